import {
  cacheErrorLog,
  CacheAside,
  StampedBytesCache,
  createRedis,
  pingRedis,
  waitForRedis,
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
import { LoginThrottle } from './login-throttle';
import { migrations } from './migrations';
import { USER_MODELS } from './user.models';
import { PasswordHasher } from './password-hasher';
import { registerDeletionTopics } from './user-deletion.outbox';
import { UserDomain } from './user.domain';
import { UserRepository } from './user.repository';
import type { UserRecord } from './user.types';

export interface UserDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  sequelize: Sequelize;
  redis: RedisClient;
  domain: UserDomain;
  outbox: Outbox;
  close(): Promise<void>;
}

// Cached records keep times as epoch ms; JSON would turn Dates into strings.
const codec = {
  encode: (u: UserRecord) =>
    JSON.stringify({ ...u, createdAt: u.createdAt.getTime(), updatedAt: u.updatedAt.getTime() }),
  decode: (text: string): UserRecord => {
    const u = JSON.parse(text) as UserRecord & { createdAt: number; updatedAt: number };
    return { ...u, createdAt: new Date(u.createdAt), updatedAt: new Date(u.updatedAt) };
  },
};

// The peers get only DeleteUser's follow-ups (rare, retried by the outbox); passing their
// request id would put every GetUser under Node 20's promise hooks (server-kit context.ts).
const noRequestIds = { requestIds: false };

/** How often undelivered follow-ups and events are retried. */
const OUTBOX_INTERVAL_MS = 500;

/** Opens MySQL (migrated) and Redis and wires the domain: everything main and tests share. */
export async function openUserDeps({ config, logger, metrics }: ServeContext): Promise<UserDeps> {
  const sequelize = await openDatabase(config.db, 'user', {
    migrations,
    models: USER_MODELS,
  });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const onRedisError = cacheErrorLog(logger);
  const cache = new CacheAside<UserRecord>({
    redis,
    name: 'user',
    ttlSeconds: config.cache.ttl_seconds,
    negativeTtlSeconds: config.cache.negative_ttl_seconds,
    codec,
    registry: metrics.registry,
    onError: onRedisError,
  });
  const encoded = new StampedBytesCache({
    redis,
    name: 'user-encoded',
    ttlSeconds: config.cache.ttl_seconds,
    negativeTtlSeconds: config.cache.negative_ttl_seconds,
    registry: metrics.registry,
    onError: onRedisError,
  });
  const throttle = new LoginThrottle(redis, {
    maxFailures: config.user.login_max_failures,
    windowSeconds: config.user.login_window_seconds,
    onRedisError: (err) => onRedisError(err, 'login-throttle'),
  });
  const peers = {
    message: createPeerClient(config, 'message', noRequestIds),
    presence: createPeerClient(config, 'presence', noRequestIds),
    group: createPeerClient(config, 'group', noRequestIds),
    conversation: createPeerClient(config, 'conversation', noRequestIds),
  };
  // user_outbox: the follow-ups of DeleteUser (always) and the change events (while on). The
  // lease outlives an erasure delivery (a few calls of one batch each, see the topics).
  const outbox = new Outbox({
    db: sequelize,
    table: 'user_outbox',
    leaseMs: 4 * config.peers.timeout_ms + OUTBOX_INTERVAL_MS,
    intervalMs: OUTBOX_INTERVAL_MS,
    backoffBaseMs: 250,
    backoffMaxMs: 2000,
    logger,
    registry: metrics.registry,
  });
  registerDeletionTopics(outbox, peers, 2 * config.peers.timeout_ms);
  const events = await openEvents(config, 'user', logger, metrics.registry);
  if (events) outbox.register(EVENTS_TOPIC, events.handler);
  outbox.start();
  const domain = new UserDomain(
    new UserRepository(sequelize),
    cache,
    encoded,
    new PasswordHasher(config.user.scrypt_cost, {
      concurrency: config.user.hash_concurrency,
      queueMax: config.user.hash_queue_max,
    }),
    throttle,
    undefined,
    outbox,
    { events: events !== undefined, eraseContent: config.user.delete_erases_content },
  );
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
      for (const client of Object.values(peers)) client.close();
      redis.disconnect();
      await sequelize.close();
    },
  };
}

/** MySQL is the store; Redis only a cache this service serves around (degraded, not down). */
export const healthChecks = (deps: Pick<UserDeps, 'sequelize' | 'redis'>): HealthChecks => ({
  mysql: { check: () => pingDatabase(deps.sequelize), required: true },
  redis: { check: () => pingRedis(deps.redis), required: false },
});
