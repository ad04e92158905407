import { CacheAside, createRedis, pingRedis, waitForRedis, type RedisClient } from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import { openDatabase, pingDatabase, type Sequelize } from '@im-repo/db';
import { eventOutbox, EVENTS_TOPIC, openEvents } from '@im-repo/events';
import type { GrpcMetrics, HealthChecks, Logger, ServeContext } from '@im-repo/server-kit';
import { LoginThrottle } from './login-throttle';
import { migrations } from './migrations';
import { USER_MODELS } from './user.models';
import { PasswordHasher } from './password-hasher';
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

/** Opens MySQL (migrated) and Redis and wires the domain: everything main and tests share. */
export async function openUserDeps({ config, logger, metrics }: ServeContext): Promise<UserDeps> {
  const sequelize = await openDatabase(config.db, 'user', {
    migrations,
    models: USER_MODELS,
  });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const onRedisError = (err: unknown, op = 'redis') =>
    logger.warn('redis failed, served without it', { op, error: (err as Error).message });
  const cache = new CacheAside<UserRecord>({
    redis,
    name: 'user',
    ttlSeconds: config.cache.ttl_seconds,
    negativeTtlSeconds: config.cache.negative_ttl_seconds,
    codec,
    registry: metrics.registry,
    onError: onRedisError,
  });
  const throttle = new LoginThrottle(redis, {
    maxFailures: config.user.login_max_failures,
    windowSeconds: config.user.login_window_seconds,
    onRedisError: (err) => onRedisError(err, 'login-throttle'),
  });
  // user_outbox holds only change events: without them no outbox (and no drainer) runs.
  const events = await openEvents(config, 'user', logger, metrics.registry);
  const outbox =
    events && eventOutbox(sequelize, 'user_outbox', { logger, registry: metrics.registry });
  if (events && outbox) {
    outbox.register(EVENTS_TOPIC, events.handler);
    outbox.start();
  }
  const domain = new UserDomain(
    new UserRepository(sequelize),
    cache,
    new PasswordHasher(config.user.scrypt_cost, {
      concurrency: config.user.hash_concurrency,
      queueMax: config.user.hash_queue_max,
    }),
    throttle,
    undefined,
    outbox,
  );
  return {
    config,
    logger,
    metrics,
    sequelize,
    redis,
    domain,
    async close() {
      await outbox?.stop();
      await events?.close();
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
