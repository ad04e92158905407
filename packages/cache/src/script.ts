import { createHash } from 'node:crypto';
import type { RedisClient } from './client';

type Arg = string | number | Buffer;

/** A Lua script: run(redis, keys, args) is EVALSHA, falling back to EVAL when Redis lacks it. */
export interface RedisScript<R> {
  /** SHA1 of the source: the EVALSHA name. */
  readonly sha: string;
  run(redis: RedisClient, keys: readonly string[], args?: readonly Arg[]): Promise<R>;
}

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');

/**
 * Why not ioredis' defineCommand: with auto-pipelining on, a command defined after a pipeline
 * was opened is missing from that pipeline, and ioredis then crashes the process from its exec
 * callback ("results[i] is not iterable", redis/ioredis#1931). EVALSHA and EVAL are built-in
 * commands, present on every pipeline, so scripts ride auto-pipelining safely. On Cluster they
 * route by their first key; a node that has not seen the script yet answers NOSCRIPT once.
 */
export function redisScript<R>(lua: string): RedisScript<R> {
  const sha = createHash('sha1').update(lua).digest('hex');
  return {
    sha,
    async run(redis, keys, args = []) {
      try {
        return (await redis.evalsha(sha, keys.length, ...keys, ...args)) as R;
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return (await redis.eval(lua, keys.length, ...keys, ...args)) as R;
      }
    },
  };
}
