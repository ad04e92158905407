import {
  cacheErrorLog,
  createRedis,
  pingRedis,
  waitForRedis,
  type RedisClient,
} from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import { openDatabase, pingDatabase, type Sequelize } from '@im-repo/db';
import { EVENT_BATCH_TOPIC, EVENTS_TOPIC, monotonicUlids, openEvents } from '@im-repo/events';
import { Outbox } from '@im-repo/outbox';
import {
  createPeerClient,
  type GrpcMetrics,
  type HealthChecks,
  type Logger,
  type ServeContext,
} from '@im-repo/server-kit';
import { CLEARED_TOPIC, clearedHandler } from './cleared-outbox';
import { HeadCache } from './head-cache';
import { HistoryRepository } from './history.repository';
import { MessageDomain } from './message.domain';
import { createMessageMetrics, type MessageMetrics } from './message.metrics';
import { createGroupAccess, createUserDirectory, KnownIds } from './message.peers';
import { MessageRepository } from './message.repository';
import { migrations } from './migrations';
import { MESSAGE_MODELS } from './message.models';
import { RECORDS_TOPIC, recordsHandler } from './record-outbox';
import { RETENTION_DEFAULTS, RetentionJob } from './retention.job';
import type { SendBatcher } from './send-batcher';
import { DeletedUsersRepository } from './deleted-users.repository';
import { DeletedUserCheck, UserForgetting } from './user-deletion';

export interface MessageDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  messageMetrics: MessageMetrics;
  sequelize: Sequelize;
  redis: RedisClient;
  repository: MessageRepository;
  heads: HeadCache;
  batcher: SendBatcher;
  outbox: Outbox;
  domain: MessageDomain;
  forgetting: UserForgetting;
  retention: RetentionJob;
  close(): Promise<void>;
}

// Keeps one batch's multi-row INSERT (content hex-escaped: twice its size) well under MariaDB's
// default 16 MiB max_allowed_packet; a single larger message still goes alone.
const BATCH_MAX_BYTES = 4 * 1024 * 1024;

/** Opens MySQL (migrated), Redis and the peers, wires the domain and starts the outbox drainer. */
export async function openMessageDeps({
  config,
  logger,
  metrics,
}: ServeContext): Promise<MessageDeps> {
  const sequelize = await openDatabase(config.db, 'message', {
    migrations,
    models: MESSAGE_MODELS,
  });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const onRedisError = cacheErrorLog(logger);

  const users = createPeerClient(config, 'user');
  const groups = createPeerClient(config, 'group');
  const conversations = createPeerClient(config, 'conversation');

  const messageMetrics = createMessageMetrics(metrics.registry);
  const repository = new MessageRepository(sequelize);
  const heads = new HeadCache(redis, repository, {
    ttlSeconds: config.cache.ttl_seconds,
    emptyTtlSeconds: config.cache.negative_ttl_seconds,
    registry: metrics.registry,
    onError: onRedisError,
  });
  const deletedUsers = new DeletedUsersRepository(sequelize);
  const knownUsers = new KnownIds(100_000);
  const forgetting = new UserForgetting(deletedUsers, heads, (id) => knownUsers.forget(id));
  const outbox = new Outbox({
    db: sequelize,
    table: 'message_outbox',
    // Outlives one RecordMessages call, so no other replica retries a batch meanwhile.
    leaseMs: config.peers.timeout_ms + config.message.outbox_interval_ms,
    intervalMs: config.message.outbox_interval_ms,
    logger,
    registry: metrics.registry,
  });
  // RecordMessages is idempotent and order-independent: no replica's record waits for another's.
  outbox.register(RECORDS_TOPIC, recordsHandler(conversations, messageMetrics), { ordered: false });
  // Floors only rise and the conversation service keeps the highest: no order needed either.
  outbox.register(CLEARED_TOPIC, clearedHandler(conversations), { ordered: false });
  const history = new HistoryRepository(sequelize);
  const retention = new RetentionJob(history, repository, heads, {
    ...RETENTION_DEFAULTS,
    retentionSeconds: config.message.retention_seconds,
    logger,
    registry: metrics.registry,
  });
  const events = await openEvents(config, 'message', logger, metrics.registry);
  if (events) {
    // Single-event rows written before the batch rows existed (an upgrade's leftovers).
    outbox.register(EVENTS_TOPIC, events.handler);
    // Every event (a row per send commit, recall or clear): one key, so the drainer sends them,
    // all commits due at once in one call, woken after each commit (events README).
    outbox.register(EVENT_BATCH_TOPIC, events.handler, { drainSoon: true });
  }
  const domain = new MessageDomain(
    repository,
    heads,
    outbox,
    createUserDirectory(users, new DeletedUserCheck(deletedUsers), knownUsers),
    createGroupAccess(groups),
    {
      recallWindowSeconds: config.message.recall_window_seconds,
      batch: {
        maxSize: config.message.batch_max_size,
        maxWaitMs: config.message.batch_max_wait_ms,
        maxBytes: BATCH_MAX_BYTES,
        // Leaves most of the pool to reads and the drainer; batches of one conversation queue
        // on its row lock anyway.
        maxInflight: Math.max(1, Math.min(8, Math.floor(config.db.pool_max / 3))),
        maxQueued: config.message.send_queue_max,
      },
      newId: monotonicUlids(),
      metrics: messageMetrics,
      logger,
      events: events !== undefined,
      history,
      retention,
    },
  );
  outbox.start();
  retention.start();

  return {
    config,
    logger,
    metrics,
    messageMetrics,
    sequelize,
    redis,
    repository,
    heads,
    batcher: domain.batcher,
    outbox,
    domain,
    forgetting,
    retention,
    async close() {
      await retention.stop();
      await domain.close();
      await outbox.stop();
      await events?.close();
      heads.close();
      users.close();
      groups.close();
      conversations.close();
      redis.disconnect();
      await sequelize.close();
    },
  };
}

/** MySQL is the store; Redis only a cache this service serves around (degraded, not down). */
export const healthChecks = (deps: Pick<MessageDeps, 'sequelize' | 'redis'>): HealthChecks => ({
  mysql: { check: () => pingDatabase(deps.sequelize), required: true },
  redis: { check: () => pingRedis(deps.redis), required: false },
});
