import { randomBytes } from 'node:crypto';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { createRedis, redisScript, waitForRedis, type RedisClient } from '../src';

describe('redisScript', () => {
  let env: TestEnvironment;
  let redis: RedisClient;

  before(async () => {
    env = await createTestEnvironment('script', { mysql: false });
    redis = createRedis(env.config('user').redis);
    await waitForRedis(redis, 2000);
  });
  after(async () => {
    redis.disconnect();
    await env?.teardown();
  });

  // With ioredis' defineCommand this crashed the process: the script was defined after the
  // tick's auto-pipeline was opened, so the pipeline lacked it (redis/ioredis#1931).
  it('runs in one tick with other auto-pipelined commands, before and after Redis knows it', async () => {
    // A comment unique to this run: Redis has never seen the script, so the first call is NOSCRIPT.
    const script = redisScript<string>(
      `-- ${randomBytes(8).toString('hex')}\nreturn ARGV[1] .. redis.call('GET', KEYS[1])`,
    );
    await redis.set('s:{k}', 'v');
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all([
        redis.get('s:{k}'),
        script.run(redis, ['s:{k}'], ['x']),
        redis.get('s:{k}'),
        script.run(redis, ['s:{k}'], ['y']),
      ]);
      expect(results).to.deep.equal(['v', 'xv', 'v', 'yv']);
    }
  });

  it('applies the key prefix to KEYS, as to any command', async () => {
    const script = redisScript<number>(`return redis.call('SET', KEYS[1], ARGV[1]) and 1`);
    await script.run(redis, ['s:{prefixed}'], ['1']);
    const raw = createRedis({ ...env.config('user').redis, key_prefix: '' });
    try {
      await waitForRedis(raw, 2000);
      expect(await raw.get(`${env.redisPrefix}s:{prefixed}`)).to.equal('1');
      expect(await raw.exists('s:{prefixed}')).to.equal(0);
    } finally {
      raw.disconnect();
    }
  });

  it('passes a script error through (only NOSCRIPT falls back to EVAL)', async () => {
    const script = redisScript<number>(`return redis.error_reply('BROKEN on purpose')`);
    const err = await script.run(redis, ['s:{e}']).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/BROKEN on purpose/);
  });
});
