import type { Counter, Registry } from 'prom-client';
import type { RedisClient } from './client';
import { cacheCounter } from './metrics';
import { redisScript } from './script';

export interface Codec<T> {
  encode(value: T): string;
  decode(text: string): T;
}

export interface CacheAsideOptions<T> {
  redis: RedisClient;
  /** Names this cache in metrics and logs (e.g. "user"). */
  name: string;
  ttlSeconds: number;
  /** TTL of a cached "not found"; 0 disables negative caching. */
  negativeTtlSeconds: number;
  codec?: Codec<T>;
  registry?: Registry;
  /** Told about Redis failures (they never fail the call). */
  onError?: (err: unknown, op: string) => void;
}

const NOT_FOUND = '\u0000';
const VERSION_TTL_MS = 24 * 3600_000;

// A fill only lands if no invalidation happened since the reader looked, so a reader that loaded
// a row before a write cannot put the old row back after the write's delete.
export const FILL = redisScript<number>(`
local v = redis.call('GET', KEYS[2]) or ''
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`);

const INVALIDATE = redisScript<number>(`
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1`);

/** The key whose INCR (by invalidate()) tells fills and stamped entries a write happened. */
export const versionKey = (key: string) => `${key}:v`;

// Invalidations being retried at once. During a long outage every write adds one; past this
// they are dropped (the entries' TTL still bounds staleness) so memory stays bounded.
const MAX_RETRYING = 10_000;

/**
 * Cache-aside over Redis: read the cache, else load from the source of truth and fill. Keys
 * must carry a hash tag (`user:{u1}`) so the entry and its version key share a cluster slot.
 *
 * - penetration: "not found" is cached for negativeTtlSeconds;
 * - stampede: one load per key at a time in this process (single-flight);
 * - avalanche: TTLs get up to 10% random jitter;
 * - stale fills: writers call invalidate() after committing; it bumps a per-key version that
 *   in-flight fills check, so the next read on any replica sees the write;
 * - Redis down: lookups fall through to the loader, fills are skipped, a metric counts it.
 */
export class CacheAside<T> {
  private readonly inflight = new Map<string, Promise<T | null>>();
  private retrying = 0;
  private readonly counter: Counter<'cache' | 'result'>;
  /** One bound child per outcome: labelling on every lookup costs hashing (getuser's hot path). */
  private readonly counted = new Map<string, { inc(n?: number): void }>();
  private readonly codec: Codec<T>;

  constructor(private readonly options: CacheAsideOptions<T>) {
    this.counter = cacheCounter(options.registry);
    this.codec = options.codec ?? { encode: JSON.stringify, decode: JSON.parse };
  }

  async get(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const promise = this.lookup(key, load).finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  /**
   * Looks up many keys in one round trip; the misses are loaded with one loadMany call.
   * Returns a map of the keys found.
   */
  async getMany(
    keys: string[],
    loadMany: (missing: string[]) => Promise<Map<string, T>>,
  ): Promise<Map<string, T>> {
    const found = new Map<string, T>();
    if (keys.length === 0) return found;
    const { redis } = this.options;
    let texts: (string | null)[];
    let versionOf: Map<string, string>;
    try {
      // Auto-pipelined: one round trip for the entries, one more for the misses' versions.
      texts = await Promise.all(keys.map((k) => redis.get(k)));
      const missed = keys.filter((_, i) => texts[i] === null);
      const versions = await Promise.all(missed.map((k) => redis.get(versionKey(k))));
      versionOf = new Map(missed.map((k, i) => [k, versions[i] ?? '']));
    } catch (err) {
      this.fail(err, 'getMany');
      this.counter.inc({ cache: this.options.name, result: 'error' }, keys.length);
      return loadMany(keys);
    }
    const missing: string[] = [];
    keys.forEach((key, i) => {
      const text = texts[i]!;
      if (text === null) {
        missing.push(key);
        this.count('miss');
      } else if (text === NOT_FOUND) {
        this.count('negative_hit');
      } else {
        found.set(key, this.codec.decode(text));
        this.count('hit');
      }
    });
    if (missing.length === 0) return found;
    const loaded = await loadMany(missing);
    await Promise.all(
      missing.map((key) => this.fill(key, versionOf.get(key)!, loaded.get(key) ?? null)),
    );
    for (const [key, value] of loaded) found.set(key, value);
    return found;
  }

  /** Call after the source of truth committed a change to these keys. */
  async invalidate(...keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const args = keys.flatMap((k) => [k, versionKey(k)]);
    try {
      await this.invalidateInSlots(args);
    } catch (err) {
      this.fail(err, 'invalidate');
      // The write is committed; keep trying briefly so the stale entry does not live out its TTL.
      if (this.retrying >= MAX_RETRYING) {
        this.fail(new Error('too many invalidations waiting for Redis'), 'invalidate-dropped');
        return;
      }
      this.retrying++;
      this.retryInvalidate(args, 1);
    }
  }

  private async invalidateInSlots(args: string[]): Promise<void> {
    const { redis } = this.options;
    // One script per key pair: pairs of different keys may live in different cluster slots.
    await Promise.all(
      Array.from({ length: args.length / 2 }, (_, i) =>
        INVALIDATE.run(redis, [args[2 * i]!, args[2 * i + 1]!], [VERSION_TTL_MS]),
      ),
    );
  }

  private retryInvalidate(args: string[], attempt: number) {
    if (attempt > 5) {
      this.retrying--;
      return;
    }
    setTimeout(
      () => {
        this.invalidateInSlots(args).then(
          () => this.retrying--,
          (err: unknown) => {
            this.fail(err, 'invalidate-retry');
            this.retryInvalidate(args, attempt + 1);
          },
        );
      },
      200 * 2 ** attempt,
    ).unref();
  }

  private async lookup(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const { redis } = this.options;
    let text: string | null;
    let version: string | null = null;
    try {
      text = await redis.get(key);
      // Only a miss needs the version, and reading it now (after the miss, before the load) is
      // as good as reading it with the entry: a write that commits before our load bumps it
      // after committing, so our fill is refused unless we saw the bump.
      if (text === null) version = await redis.get(versionKey(key));
    } catch (err) {
      this.fail(err, 'get');
      this.count('error');
      return load();
    }
    if (text === NOT_FOUND) {
      this.count('negative_hit');
      return null;
    }
    if (text !== null) {
      this.count('hit');
      return this.codec.decode(text);
    }
    this.count('miss');
    const value = await load();
    await this.fill(key, version ?? '', value);
    return value;
  }

  private async fill(key: string, version: string, value: T | null): Promise<void> {
    const ttlSeconds = value === null ? this.options.negativeTtlSeconds : this.options.ttlSeconds;
    if (ttlSeconds <= 0) return;
    const ttlMs = Math.round(ttlSeconds * 1000 * (1 + Math.random() * 0.1));
    const text = value === null ? NOT_FOUND : this.codec.encode(value);
    try {
      await FILL.run(this.options.redis, [key, versionKey(key)], [version, text, ttlMs]);
    } catch (err) {
      this.fail(err, 'fill');
    }
  }

  private count(result: 'hit' | 'miss' | 'negative_hit' | 'error') {
    let child = this.counted.get(result);
    if (!child) {
      child = this.counter.labels({ cache: this.options.name, result });
      this.counted.set(result, child);
    }
    child.inc();
  }

  private fail(err: unknown, op: string) {
    this.options.onError?.(err, `${this.options.name}.${op}`);
  }
}
