import type { Config } from '@im-repo/config';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import { QueryTypes, Sequelize } from 'sequelize';

export type DbConfig = Config['db'];

export interface DatabaseOptions {
  /** Receives every SQL statement (debug logging). */
  logging?: (sql: string) => void;
}

/**
 * A Sequelize instance over a mysql2 pool. Times are stored and read in UTC; statements are not
 * logged unless asked (they may hold user content).
 */
export function createSequelize(cfg: DbConfig, options: DatabaseOptions = {}): Sequelize {
  return new Sequelize({
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
    pool: { max: cfg.pool_max, min: 0, acquire: cfg.connect_timeout_ms, idle: 30_000 },
    dialectOptions: {
      connectTimeout: cfg.connect_timeout_ms,
      // BIGINT columns come back as numbers; seqs and counters fit in 2^53 by contract.
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: false,
      charset: 'utf8mb4',
      // mysql2's own compiled row parsers (DATETIME -> Date in the UTC zone above, BIGINT ->
      // number) instead of Sequelize's per-field callback, which costs more than the query on
      // wide results. (Set here, not per query: a per-query typeCast next to a connection-level
      // one makes mysql2 3.24 miss its parser cache on every query and keep every parser.)
      typeCast: true,
    },
    define: { timestamps: false, underscored: true, freezeTableName: true },
  });
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

/** True when MySQL answers a trivial query within the timeout (health checks). */
export async function pingDatabase(sequelize: Sequelize, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // Not select(): that would count pings among the statements tests bound per request.
      sequelize.query('SELECT 1', { type: QueryTypes.SELECT }),
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
