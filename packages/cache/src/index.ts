export { CacheAside } from './cache-aside';
export type { CacheAsideOptions, Codec } from './cache-aside';
export { createRedis, pingRedis, translateRedisError, waitForRedis } from './client';
export type { RedisClient, RedisConfig } from './client';
export { cacheCounter } from './metrics';
export { redisScript } from './script';
export type { RedisScript } from './script';
export type { CacheResult } from './metrics';
