import { loadConfig } from '@im-repo/config';
import {
  createTestEnvironment,
  startRedisCluster,
  type LocalRedisCluster,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  CacheAside,
  createRedis,
  pingRedis,
  translateRedisError,
  waitForRedis,
  type RedisClient,
} from '../src';

interface Item {
  id: string;
  value: number;
}

/** A "source of truth" that counts its loads. */
class Source {
  rows = new Map<string, Item>();
  loads = 0;
  delayMs = 0;
  private readListeners: (() => void)[] = [];
  /** Resolves when the next load has read its row (a test can then write "after" that read). */
  nextRead(): Promise<void> {
    return new Promise((r) => this.readListeners.push(r));
  }
  async load(id: string): Promise<Item | null> {
    this.loads++;
    // The read happens now; the delay is the time until the loader gets to fill the cache.
    const row = this.rows.get(id);
    for (const notify of this.readListeners.splice(0)) notify();
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return row ? { ...row } : null;
  }
}

const key = (id: string) => `item:{${id}}`;

describe('CacheAside', () => {
  let env: TestEnvironment;
  let redis: RedisClient;
  let registry: Registry;
  let source: Source;
  let cache: CacheAside<Item>;
  let n = 0;
  const fresh = () => `i${n++}`;

  const counts = async () => {
    const metric = await registry.getSingleMetric('cache_requests_total')!.get();
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.result), v.value]));
  };

  before(async () => {
    env = await createTestEnvironment('cache');
    redis = createRedis(env.config('user').redis);
    await waitForRedis(redis, 2000);
  });
  after(async () => {
    redis.disconnect();
    await env.teardown();
  });
  beforeEach(() => {
    registry = new Registry();
    source = new Source();
    cache = new CacheAside<Item>({
      redis,
      name: 'item',
      ttlSeconds: 60,
      negativeTtlSeconds: 60,
      registry,
    });
  });

  it('misses, loads and fills; then hits without loading', async () => {
    const id = fresh();
    source.rows.set(id, { id, value: 1 });
    expect(await cache.get(key(id), () => source.load(id))).to.deep.equal({ id, value: 1 });
    expect(await cache.get(key(id), () => source.load(id))).to.deep.equal({ id, value: 1 });
    expect(source.loads).to.equal(1);
    expect(await counts()).to.deep.include({ miss: 1, hit: 1 });
    const ttl = await redis.pttl(key(id));
    expect(ttl).to.be.greaterThan(59_000).and.at.most(66_000); // 60 s + up to 10% jitter
  });

  it('caches "not found" (negative caching) so repeated misses do not reach the source', async () => {
    const id = fresh();
    expect(await cache.get(key(id), () => source.load(id))).to.equal(null);
    expect(await cache.get(key(id), () => source.load(id))).to.equal(null);
    expect(source.loads).to.equal(1);
    expect(await counts()).to.deep.include({ negative_hit: 1 });
  });

  it('single-flight: 50 concurrent misses of one key load it once', async () => {
    const id = fresh();
    source.rows.set(id, { id, value: 7 });
    source.delayMs = 30;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.get(key(id), () => source.load(id))),
    );
    expect(source.loads).to.equal(1);
    expect(results.every((r) => r?.value === 7)).to.equal(true);
  });

  it('invalidate makes the next read (from any instance) see the write', async () => {
    const id = fresh();
    source.rows.set(id, { id, value: 1 });
    const other = new CacheAside<Item>({
      redis,
      name: 'item',
      ttlSeconds: 60,
      negativeTtlSeconds: 60,
    });
    await other.get(key(id), () => source.load(id));
    source.rows.set(id, { id, value: 2 });
    await cache.invalidate(key(id));
    expect((await other.get(key(id), () => source.load(id)))!.value).to.equal(2);
  });

  it('a slow reader that loaded before a write cannot put the old value back after it', async () => {
    const id = fresh();
    source.rows.set(id, { id, value: 1 });
    source.delayMs = 50;
    const read = source.nextRead();
    const slowRead = cache.get(key(id), () => source.load(id)); // loads value 1...
    await read;
    source.rows.set(id, { id, value: 2 }); // ...the write commits...
    await cache.invalidate(key(id)); // ...and invalidates while the reader is still loading
    expect((await slowRead)!.value).to.equal(1);
    source.delayMs = 0;
    const other = new CacheAside<Item>({
      redis,
      name: 'item',
      ttlSeconds: 60,
      negativeTtlSeconds: 60,
    });
    expect((await other.get(key(id), () => source.load(id)))!.value).to.equal(2);
  });

  it('getMany answers hits from Redis and loads all misses in one call', async () => {
    const ids = [fresh(), fresh(), fresh(), fresh()];
    for (const id of ids.slice(0, 3)) source.rows.set(id, { id, value: 3 });
    await cache.get(key(ids[0]!), () => source.load(ids[0]!));
    let batches = 0;
    const loadMany = async (missing: string[]) => {
      batches++;
      const out = new Map<string, Item>();
      for (const k of missing) {
        const id = k.slice('item:{'.length, -1);
        const row = await source.load(id);
        if (row) out.set(k, row);
      }
      return out;
    };
    const found = await cache.getMany(ids.map(key), loadMany);
    expect([...found.keys()].sort()).to.deep.equal(ids.slice(0, 3).map(key).sort());
    expect(batches).to.equal(1);
    const again = await cache.getMany(ids.map(key), loadMany);
    expect(again.size).to.equal(3);
    expect(batches).to.equal(1); // the unknown one is negatively cached, the rest hit
  });

  it('with Redis down, reads are served by the source and counted as errors; nothing throws', async () => {
    const cfg = loadConfig('user', { file: '' }).redis;
    const down = createRedis({ ...cfg, port: 1, command_timeout_ms: 200 });
    down.on('error', () => undefined);
    try {
      expect(await pingRedis(down, 200)).to.equal(false);
      const broken = new CacheAside<Item>({
        redis: down,
        name: 'item',
        ttlSeconds: 60,
        negativeTtlSeconds: 60,
        registry,
      });
      const id = fresh();
      source.rows.set(id, { id, value: 5 });
      expect((await broken.get(key(id), () => source.load(id)))!.value).to.equal(5);
      expect(
        (await broken.getMany([key(id)], async () => new Map([[key(id), { id, value: 5 }]]))).size,
      ).to.equal(1);
      await broken.invalidate(key(id));
      expect(source.loads).to.equal(1);
      expect((await counts()).error).to.be.greaterThanOrEqual(2);
    } finally {
      down.disconnect();
    }
  });

  it('classifies a Redis outage as UNAVAILABLE', async () => {
    const cfg = loadConfig('user', { file: '' }).redis;
    const down = createRedis({ ...cfg, port: 1, command_timeout_ms: 200 });
    down.on('error', () => undefined);
    try {
      const err = await down.get('x').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(translateRedisError(err)?.code).to.equal(14);
      expect(translateRedisError(new Error('ERR wrong type'))).to.equal(undefined);
    } finally {
      down.disconnect();
    }
  });

  describe('on Redis Cluster', function () {
    this.timeout(60_000);
    let cluster: LocalRedisCluster;
    before(async () => {
      cluster = await startRedisCluster();
    });
    after(async () => {
      await cluster?.stop();
    });

    it('fills, hits, invalidates and getMany across slots', async () => {
      const cfg = { ...env.config('user').redis, cluster_nodes: cluster.nodes };
      const clustered = createRedis(cfg);
      try {
        await waitForRedis(clustered, 10_000);
        const c = new CacheAside<Item>({
          redis: clustered,
          name: 'item',
          ttlSeconds: 60,
          negativeTtlSeconds: 60,
          onError: (err) => {
            throw err;
          },
        });
        const ids = Array.from({ length: 20 }, fresh);
        for (const id of ids) source.rows.set(id, { id, value: 9 });
        for (const id of ids)
          expect((await c.get(key(id), () => source.load(id)))!.value).to.equal(9);
        expect(source.loads).to.equal(20);
        const many = await c.getMany(ids.map(key), async () => new Map());
        expect(many.size).to.equal(20);
        source.rows.set(ids[0]!, { id: ids[0]!, value: 10 });
        await c.invalidate(...ids.slice(0, 5).map(key));
        expect((await c.get(key(ids[0]!), () => source.load(ids[0]!)))!.value).to.equal(10);
      } finally {
        clustered.disconnect();
      }
    });
  });
});
