import { randomBytes } from 'node:crypto';
import { loadConfig, type Config, type DeepPartial, type ServiceName } from '@im-repo/config';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

const STALE_AFTER_MS = 6 * 3600_000;

export interface TestEnvironment {
  /** The run's own database (created empty). */
  dbName: string;
  /** The run's own Redis key prefix. */
  redisPrefix: string;
  /** A config for one service: this run's database and prefix, ports 0, quiet logs. */
  config(service: ServiceName, overrides?: DeepPartial<Config>): Config;
  /** Drops the database and deletes the run's Redis keys. */
  teardown(): Promise<void>;
}

async function connect() {
  const db = base('user').db;
  return mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
  });
}

/** Creates the run's database, dropping those of crashed runs older than 6 h on the way. */
async function createDatabase(dbName: string, stamp: number): Promise<void> {
  const conn = await connect();
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'im\\_test\\_%'",
    );
    for (const { name } of rows) {
      const started = Number(/_(\d{13})_[0-9a-f]{6}$/.exec(name as string)?.[1]);
      if (started && stamp - started > STALE_AFTER_MS) {
        await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name as string)}`);
      }
    }
    await conn.query(
      `CREATE DATABASE ${mysql.escapeId(dbName)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
  } finally {
    await conn.end();
  }
}

function base(service: ServiceName): Config {
  // DB_* / REDIS_* from the environment still apply, so CI can point tests elsewhere.
  return loadConfig(service, { file: '' });
}

/**
 * A fresh database and Redis key prefix for one test run, so runs (and packages testing in
 * parallel) never see each other's data. Databases left by crashed runs are dropped after 6 h.
 */
export async function createTestEnvironment(
  label: string,
  options: { mysql?: boolean } = {},
): Promise<TestEnvironment> {
  const stamp = Date.now();
  const id = `${stamp}_${randomBytes(3).toString('hex')}`;
  const dbName = `im_test_${label.replace(/[^a-z0-9]/gi, '').slice(0, 20)}_${id}`;
  const redisPrefix = `test:${label}:${id}:`;
  // Redis-only services (presence) need no database.
  const withMysql = options.mysql ?? true;
  if (withMysql) await createDatabase(dbName, stamp);

  return {
    dbName,
    redisPrefix,
    config(service, overrides = {}) {
      return loadConfig(service, {
        file: '',
        overrides: mergeDeep(
          {
            server: { port: 0, metrics_port: 0, health_interval_ms: 200 },
            db: { name: dbName },
            redis: { key_prefix: redisPrefix },
            log: { level: (process.env.TEST_LOG_LEVEL as 'error') ?? 'error' },
            // Fast hashes keep the suites quick; production keeps the default cost.
            user: { scrypt_cost: 1024 },
          },
          overrides,
        ),
      });
    },
    async teardown() {
      if (withMysql) {
        const conn = await connect();
        try {
          await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(dbName)}`);
        } finally {
          await conn.end();
        }
      }
      await deleteRedisPrefix(redisPrefix);
    },
  };
}

/** Runs fn on each SCAN page of the keys under a prefix, on a connection of its own. */
async function scanPrefix(prefix: string, fn: (redis: Redis, keys: string[]) => Promise<void>) {
  const cfg = base('user').redis;
  const redis = new Redis({ host: cfg.host, port: cfg.port, password: cfg.password || undefined });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${escapeGlob(prefix)}*`,
        'COUNT',
        1000,
      );
      cursor = next;
      if (keys.length > 0) await fn(redis, keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under a prefix: for tests, the FLUSHALL of one run's keyspace. */
export async function deleteRedisPrefix(prefix: string): Promise<number> {
  let deleted = 0;
  await scanPrefix(prefix, async (redis, keys) => {
    deleted += await redis.unlink(...keys);
  });
  return deleted;
}

/** The keys under a prefix and those of them without a TTL (nothing may live forever). */
export async function redisKeysWithoutTtl(
  prefix: string,
): Promise<{ keys: number; withoutTtl: string[] }> {
  const withoutTtl: string[] = [];
  let count = 0;
  await scanPrefix(prefix, async (redis, keys) => {
    count += keys.length;
    const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
    keys.forEach((k, i) => ttls[i] === -1 && withoutTtl.push(k));
  });
  return { keys: count, withoutTtl };
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function mergeDeep<T>(a: T, b: unknown): T {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return (b ?? a) as T;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) {
    out[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) ? mergeDeep(out[k] ?? {}, v) : v;
  }
  return out as T;
}
