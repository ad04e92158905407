import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { CacheAside, createRedis, StampedBytesCache, waitForRedis, type RedisClient } from '../src';

const key = (id: string) => `item:{${id}}`;

describe('StampedBytesCache', () => {
  let env: TestEnvironment;
  let redis: RedisClient;
  let registry: Registry;
  let rows: Map<string, string>;
  let loads: number;
  let n = 0;
  const fresh = () => `b${n++}`;
  const load = (id: string) => async () => {
    loads++;
    const row = rows.get(id);
    return row === undefined ? null : Buffer.from(row);
  };
  const bytesCache = () =>
    new StampedBytesCache({
      redis,
      name: 'item-bytes',
      ttlSeconds: 60,
      negativeTtlSeconds: 60,
      registry,
    });
  // The records cache whose invalidate() both caches obey.
  const records = () =>
    new CacheAside<string>({ redis, name: 'item', ttlSeconds: 60, negativeTtlSeconds: 60 });
  const counts = async () => {
    const metric = await registry.getSingleMetric('cache_requests_total')!.get();
    return Object.fromEntries(
      metric.values
        .filter((v) => v.labels.cache === 'item-bytes')
        .map((v) => [String(v.labels.result), v.value]),
    );
  };

  before(async () => {
    env = await createTestEnvironment('cache-bytes');
    redis = createRedis(env.config('user').redis);
    await waitForRedis(redis, 2000);
  });
  after(async () => {
    redis.disconnect();
    await env.teardown();
  });
  beforeEach(() => {
    registry = new Registry();
    rows = new Map();
    loads = 0;
  });

  it('misses, loads and fills; then hits with the same bytes without loading', async () => {
    const id = fresh();
    rows.set(id, 'one');
    const cache = bytesCache();
    expect(String(await cache.get(key(id), load(id)))).to.equal('one');
    expect(String(await cache.get(key(id), load(id)))).to.equal('one');
    expect(loads).to.equal(1);
    expect(await counts()).to.deep.include({ miss: 1, hit: 1 });
  });

  it('caches "not found"', async () => {
    const id = fresh();
    const cache = bytesCache();
    expect(await cache.get(key(id), load(id))).to.equal(null);
    expect(await cache.get(key(id), load(id))).to.equal(null);
    expect(loads).to.equal(1);
    expect(await counts()).to.deep.include({ negative_hit: 1 });
  });

  it("the records cache's invalidate retires the bytes on every instance, again and again", async () => {
    const id = fresh();
    const reader = bytesCache();
    for (const value of ['v1', 'v2', 'v3']) {
      rows.set(id, value);
      await records().invalidate(key(id));
      expect(String(await reader.get(key(id), load(id)))).to.equal(value);
      expect(String(await bytesCache().get(key(id), load(id)))).to.equal(value);
    }
  });

  it('a reader that loaded before a write cannot leave the old bytes behind it', async () => {
    const id = fresh();
    rows.set(id, 'old');
    const cache = bytesCache();
    let loaded!: () => void;
    const read = new Promise<void>((r) => (loaded = r));
    const slow = cache.get(key(id), async () => {
      const bytes = await load(id)();
      loaded();
      await new Promise((r) => setTimeout(r, 50));
      return bytes;
    });
    await read;
    rows.set(id, 'new');
    await records().invalidate(key(id));
    expect(String(await slow)).to.equal('old');
    expect(String(await bytesCache().get(key(id), load(id)))).to.equal('new');
  });

  it('an entry stamped with another version is a miss, not an answer', async () => {
    const id = fresh();
    // Stamped "7" while the version key says nothing happened (absent): never served.
    await redis.set(`${key(id)}:b`, Buffer.concat([Buffer.of(1), Buffer.from('7stale')]));
    rows.set(id, 'fresh');
    expect(String(await bytesCache().get(key(id), load(id)))).to.equal('fresh');
    expect(loads).to.equal(1);
  });
});
