import {
  cacheErrorLog,
  CacheAside,
  createRedis,
  pingRedis,
  waitForRedis,
  type Codec,
  type RedisClient,
} from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import { openDatabase, pingDatabase, type Sequelize } from '@im-repo/db';
import { EVENTS_TOPIC, openEvents } from '@im-repo/events';
import { Outbox } from '@im-repo/outbox';
import {
  createPeerClient,
  type GrpcMetrics,
  type HealthChecks,
  type Logger,
  type ServeContext,
} from '@im-repo/server-kit';
import { GroupDomain } from './group.domain';
import { GroupRepository } from './group.repository';
import type { GroupRecord, MemberRecord } from './group.types';
import { migrations } from './migrations';
import { GROUP_MODELS } from './group.models';
import {
  PARTICIPANTS_PER_CALL,
  PARTICIPANTS_TOPIC,
  participantsHandler,
} from './participant-outbox';
import { MessageHeads } from './message-heads';
import { UserDirectory } from './user-directory';

/** How often undelivered joins are retried (a constant: nothing to tune per deployment yet). */
export const OUTBOX_INTERVAL_MS = 1000;

export interface GroupDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  sequelize: Sequelize;
  redis: RedisClient;
  domain: GroupDomain;
  outbox: Outbox;
  close(): Promise<void>;
}

// Cached records keep times as epoch ms; JSON would turn Dates into strings.
const groupCodec: Codec<GroupRecord> = {
  encode: (g) =>
    JSON.stringify({ ...g, createdAt: g.createdAt.getTime(), updatedAt: g.updatedAt.getTime() }),
  decode: (text) => {
    const g = JSON.parse(text) as GroupRecord & { createdAt: number; updatedAt: number };
    return { ...g, createdAt: new Date(g.createdAt), updatedAt: new Date(g.updatedAt) };
  },
};

const memberCodec: Codec<MemberRecord> = {
  encode: (m) =>
    JSON.stringify({
      ...m,
      joinedAt: m.joinedAt.getTime(),
      mutedUntil: m.mutedUntil?.getTime() ?? null,
    }),
  decode: (text) => {
    const m = JSON.parse(text) as MemberRecord & { joinedAt: number; mutedUntil: number | null };
    return {
      ...m,
      joinedAt: new Date(m.joinedAt),
      mutedUntil: m.mutedUntil === null ? null : new Date(m.mutedUntil),
    };
  },
};

/**
 * Opens MySQL (migrated), Redis and the peer clients, wires the domain and starts the
 * participant outbox's drainer: everything main and tests share.
 */
export async function openGroupDeps({ config, logger, metrics }: ServeContext): Promise<GroupDeps> {
  const sequelize = await openDatabase(config.db, 'group', {
    migrations,
    models: GROUP_MODELS,
  });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const onError = cacheErrorLog(logger);
  const cacheOptions = {
    redis,
    ttlSeconds: config.cache.ttl_seconds,
    negativeTtlSeconds: config.cache.negative_ttl_seconds,
    registry: metrics.registry,
    onError,
  };
  const caches = {
    groups: new CacheAside<GroupRecord>({ ...cacheOptions, name: 'group', codec: groupCodec }),
    members: new CacheAside<MemberRecord>({
      ...cacheOptions,
      name: 'group-member',
      codec: memberCodec,
    }),
  };
  const userClient = createPeerClient(config, 'user');
  const conversationClient = createPeerClient(config, 'conversation');
  const messageClient = createPeerClient(config, 'message');
  const outbox = new Outbox({
    db: sequelize,
    table: 'group_outbox',
    // Outlives the calls of the largest join (one per PARTICIPANTS_PER_CALL members), so no
    // other replica retries it meanwhile.
    leaseMs:
      config.peers.timeout_ms * Math.ceil(config.group.max_members / PARTICIPANTS_PER_CALL) +
      OUTBOX_INTERVAL_MS,
    intervalMs: OUTBOX_INTERVAL_MS,
    backoffBaseMs: 250,
    logger,
    registry: metrics.registry,
  });
  const events = await openEvents(config, 'group', logger, metrics.registry);
  if (events) outbox.register(EVENTS_TOPIC, events.handler);
  const repository = new GroupRepository(sequelize, outbox, events !== undefined);
  outbox.register(
    PARTICIPANTS_TOPIC,
    participantsHandler(
      conversationClient,
      async (groupId, userIds) =>
        (await repository.findMembers(groupId, userIds)).map((m) => m.userId),
      metrics.registry,
    ),
  );
  const domain = new GroupDomain(
    repository,
    caches,
    new UserDirectory(userClient),
    outbox,
    new MessageHeads(messageClient),
    { maxMembers: config.group.max_members },
  );
  outbox.start();
  return {
    config,
    logger,
    metrics,
    sequelize,
    redis,
    domain,
    outbox,
    async close() {
      await outbox.stop();
      await events?.close();
      userClient.close();
      conversationClient.close();
      messageClient.close();
      redis.disconnect();
      await sequelize.close();
    },
  };
}

/** MySQL is the store; Redis only a cache this service serves around (degraded, not down). */
export const healthChecks = (deps: Pick<GroupDeps, 'sequelize' | 'redis'>): HealthChecks => ({
  mysql: { check: () => pingDatabase(deps.sequelize), required: true },
  redis: { check: () => pingRedis(deps.redis), required: false },
});
