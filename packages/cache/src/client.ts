import type { Config } from '@im-repo/config';
import { UnavailableError, type AppError } from '@im-repo/errors';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisConfig = Config['redis'];
export type RedisClient = Redis | Cluster;

/**
 * An ioredis client (Cluster when cluster_nodes is set). Commands fail at once while
 * disconnected (no offline queue) and time out after command_timeout_ms, so a Redis outage turns
 * into fast errors that callers fall back from, never into hung calls.
 */
export function createRedis(cfg: RedisConfig, extra: Partial<RedisOptions> = {}): RedisClient {
  const common: RedisOptions = {
    password: cfg.password || undefined,
    keyPrefix: cfg.key_prefix || undefined,
    commandTimeout: cfg.command_timeout_ms,
    connectTimeout: Math.max(cfg.command_timeout_ms, 1000),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...extra,
  };
  if (cfg.cluster_nodes.length > 0) {
    const nodes = cfg.cluster_nodes.map((node) => {
      const [host, port] = node.split(':');
      return { host: host!, port: Number(port) };
    });
    const { keyPrefix, enableOfflineQueue, ...redisOptions } = common;
    return new Cluster(nodes, {
      redisOptions,
      keyPrefix,
      enableOfflineQueue,
      enableAutoPipelining: true,
      clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
    });
  }
  return new Redis({
    host: cfg.host,
    port: cfg.port,
    db: cfg.db,
    enableAutoPipelining: true,
    ...common,
  });
}

/** True when Redis answers PING within the timeout (health checks). */
export async function pingRedis(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
      }),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until the client is ready, or the timeout passes (then resolves false). */
export function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}

const REDIS_ERROR_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'ClusterAllFailedError',
  'AbortError',
]);

/** Is this a Redis failure (transport, or a refusal such as OOM), not a script or type error? */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  if (!e || typeof e !== 'object') return false;
  if (REDIS_ERROR_NAMES.has(e.name ?? '')) return true;
  const message = e.message ?? '';
  return (
    message.includes("Stream isn't writeable") ||
    message.includes('Connection is closed') ||
    message.includes('Command timed out') ||
    message.includes('connect ECONNREFUSED') ||
    // A Redis that answers but refuses the command is as good as down for a cache, and for
    // presence's store: out of memory, a read-only replica, a script hogging it, still loading.
    message.startsWith('OOM ') ||
    message.startsWith('READONLY') ||
    message.startsWith('BUSY') ||
    message.startsWith('MASTERDOWN') ||
    message.startsWith('LOADING') ||
    message.startsWith('CLUSTERDOWN') ||
    message.startsWith('TRYAGAIN') ||
    e.code === 'ECONNREFUSED' ||
    e.code === 'ECONNRESET'
  );
}

/** For services whose data lives in Redis: a Redis outage is UNAVAILABLE, not INTERNAL. */
export function translateRedisError(err: unknown): AppError | undefined {
  if (isRedisUnavailable(err)) {
    return new UnavailableError('REDIS_UNAVAILABLE', 'redis is unavailable', { cause: err });
  }
  return undefined;
}
