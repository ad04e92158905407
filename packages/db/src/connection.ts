import type { Config } from '@im-repo/config';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import type { Sequelize } from 'sequelize';
import { Sequelize as ModelSequelize, type ModelCtor } from 'sequelize-typescript';
import { acquire, createDriverPool, query, type DriverConnection } from './driver';
import { isConnectionBroken } from './errors';

export type DbConfig = Config['db'];

export interface DatabaseOptions {
  /** Receives every SQL statement Sequelize runs (debug logging). */
  logging?: (sql: string) => void;
  /** The service's table models (sequelize-typescript classes, bound to this instance only). */
  models?: ModelCtor[];
}

/**
 * One service's database: a sequelize-typescript instance in repository mode (the service's
 * models, bound to this instance only, so two instances of a service can share a process) for
 * migrations, the schema check and the paths that are not hot, and mysql2's own pool for the
 * hot SQL of select / execute / withTransaction, which goes straight to the driver.
 */
export class Database extends ModelSequelize {
  readonly driver: mysql.Pool;
  readonly acquireTimeoutMs: number;

  constructor(cfg: DbConfig, options: DatabaseOptions = {}) {
    super({
      dialect: 'mysql',
      dialectModule: mysql,
      host: cfg.host,
      port: cfg.port,
      username: cfg.user,
      password: cfg.password,
      database: cfg.name,
      timezone: '+00:00',
      logging: options.logging ?? false,
      benchmark: false,
      // Migrations hold one connection for their lock and run on another; the rest is cold.
      pool: { max: 3, min: 0, acquire: cfg.connect_timeout_ms, idle: 30_000 },
      dialectOptions: {
        connectTimeout: cfg.connect_timeout_ms,
        supportBigNumbers: true,
        bigNumberStrings: false,
        dateStrings: false,
        charset: 'utf8mb4',
      },
      define: { timestamps: false, underscored: true, freezeTableName: true },
      repositoryMode: true,
      models: options.models ?? [],
    });
    this.acquireTimeoutMs = cfg.connect_timeout_ms;
    this.driver = createDriverPool({
      host: cfg.host,
      port: cfg.port,
      user: cfg.user,
      password: cfg.password,
      database: cfg.name,
      size: cfg.pool_max,
      connectTimeoutMs: cfg.connect_timeout_ms,
    });
  }

  override async close(): Promise<void> {
    await Promise.all([
      super.close(),
      new Promise<void>((resolve) => this.driver.end(() => resolve())),
    ]);
  }
}

/** Times are stored and read in UTC; statements are not logged unless asked (they may hold user content). */
export function createSequelize(cfg: DbConfig, options: DatabaseOptions = {}): Database {
  return new Database(cfg, options);
}

/** Creates the configured database when missing (development, tests, first start). */
export async function ensureDatabase(cfg: DbConfig): Promise<void> {
  const conn = await mysqlPromise.createConnection({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    connectTimeout: cfg.connect_timeout_ms,
  });
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(cfg.name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
  } finally {
    await conn.end();
  }
}

function database(db: Sequelize): Database {
  if (db instanceof Database) return db;
  throw new Error('this Sequelize was not opened by @im-repo/db (openDatabase or createSequelize)');
}

/** Runs fn on one connection of the driver pool, released after (destroyed when fn broke it). */
export async function withDriverConnection<T>(
  db: Sequelize,
  fn: (conn: DriverConnection) => Promise<T>,
): Promise<T> {
  const { driver, acquireTimeoutMs } = database(db);
  const conn = await acquire(driver, acquireTimeoutMs);
  let broken = false;
  try {
    return await fn(conn);
  } catch (err) {
    broken = isConnectionBroken(err);
    throw err;
  } finally {
    if (broken) conn.destroy();
    else conn.release();
  }
}

/** True when MySQL answers a trivial query within the timeout (health checks). */
export async function pingDatabase(db: Sequelize, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // Not select(): that would count pings among the statements tests bound per request.
      withDriverConnection(db, (conn) => query(conn, 'SELECT 1', [])),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
