import type { Counter, Registry } from 'prom-client';
import type { RedisClient } from './client';
import { FILL, versionKey } from './cache-aside';
import { cacheCounter, type CacheResult } from './metrics';

export interface StampedBytesOptions {
  redis: RedisClient;
  /** Names this cache in metrics and logs (e.g. "user-encoded"). */
  name: string;
  ttlSeconds: number;
  /** TTL of a cached "not found"; 0 disables negative caching. */
  negativeTtlSeconds: number;
  registry?: Registry;
  /** Told about Redis failures (they never fail the call). */
  onError?: (err: unknown, op: string) => void;
}

/**
 * Bytes (an already encoded answer) cached beside a CacheAside entry and invalidated by it.
 *
 * The entry for `base` lives at `${base}:b` and starts with the version of `base` it was
 * filled under: `[length of the version][version][bytes]`, empty bytes meaning "not found". A
 * read fetches the entry and the version in one MGET and takes the entry only if the stamp is
 * the current version. So CacheAside.invalidate(base), which bumps that version, retires this
 * entry as well, on every replica and whatever version of the code made the write: a process
 * that knows nothing of the bytes entry (one not yet upgraded) still invalidates it.
 * Entry TTLs must stay below the version key's (24 h), so a version key that expired and
 * restarted cannot meet an older stamp of the same value.
 */
export class StampedBytesCache {
  private readonly inflight = new Map<string, Promise<Buffer | null>>();
  private readonly counter: Counter<'cache' | 'result'>;
  private readonly counted = new Map<CacheResult, { inc(): void }>();

  constructor(private readonly options: StampedBytesOptions) {
    this.counter = cacheCounter(options.registry);
  }

  /** The bytes of base, loaded and filled on a miss; null when load found nothing. */
  async get(base: string, load: () => Promise<Buffer | null>): Promise<Buffer | null> {
    // A hit (the hot path) is answered alone; only a miss joins or starts the one load.
    const pending = this.inflight.get(base);
    if (pending) return pending;
    let entry: Buffer | null;
    let version: Buffer | null;
    try {
      [entry, version] = (await this.options.redis.mgetBuffer(`${base}:b`, versionKey(base))) as [
        Buffer | null,
        Buffer | null,
      ];
    } catch (err) {
      this.options.onError?.(err, `${this.options.name}.get`);
      this.count('error');
      return load();
    }
    const current = version ?? EMPTY;
    if (entry !== null && stampMatches(entry, current)) {
      const bytes = entry.subarray(1 + entry[0]!);
      this.count(bytes.length === 0 ? 'negative_hit' : 'hit');
      return bytes.length === 0 ? null : bytes;
    }
    this.count('miss');
    const loading = this.inflight.get(base);
    if (loading) return loading;
    const promise = this.loadAndFill(base, current, load).finally(() => this.inflight.delete(base));
    this.inflight.set(base, promise);
    return promise;
  }

  private async loadAndFill(
    base: string,
    version: Buffer,
    load: () => Promise<Buffer | null>,
  ): Promise<Buffer | null> {
    const value = await load();
    await this.fill(base, version, value);
    return value;
  }

  private async fill(base: string, version: Buffer, value: Buffer | null): Promise<void> {
    const ttlSeconds = value === null ? this.options.negativeTtlSeconds : this.options.ttlSeconds;
    if (ttlSeconds <= 0) return;
    // Jitter against expiry avalanches, as CacheAside does.
    const ttlMs = Math.round(ttlSeconds * 1000 * (1 + Math.random() * 0.1));
    const entry = Buffer.concat([Buffer.of(version.length), version, value ?? EMPTY]);
    try {
      // The fill lands only if the version is still the one read before the load.
      await FILL.run(this.options.redis, [`${base}:b`, versionKey(base)], [version, entry, ttlMs]);
    } catch (err) {
      this.options.onError?.(err, `${this.options.name}.fill`);
    }
  }

  private count(result: CacheResult) {
    let child = this.counted.get(result);
    if (!child) {
      child = this.counter.labels({ cache: this.options.name, result });
      this.counted.set(result, child);
    }
    child.inc();
  }
}

const EMPTY = Buffer.alloc(0);

function stampMatches(entry: Buffer, version: Buffer): boolean {
  const length = entry[0]!;
  return (
    length === version.length &&
    entry.length > length &&
    entry.compare(version, 0, length, 1, 1 + length) === 0
  );
}
