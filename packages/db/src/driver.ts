import mysql from 'mysql2';

// The driver layer under sql.ts and transaction.ts: mysql2's own pool (its documented
// createPool / getConnection / release API) and one statement on one of its connections. Both
// modules build on this one, so neither imports the other.

export type Params = unknown[] | Record<string, unknown>;

/** DATETIME(3) text in UTC (mysql2 would format Dates in the connection's zone). */
export function sqlTime(date: Date): string {
  return date.toISOString().slice(0, 23).replace('T', ' ');
}

function prepare(value: unknown): unknown {
  if (value instanceof Date) return sqlTime(value);
  if (Array.isArray(value)) return value.map(prepare);
  return value;
}

function prepareParams(params: Params): Params {
  if (Array.isArray(params)) return params.map(prepare);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, prepare(v)]));
}

export type DriverConnection = mysql.PoolConnection;

export interface DriverPoolOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  size: number;
  connectTimeoutMs: number;
}

/**
 * The pool the hot SQL runs on. Its connections behave as Sequelize's did: UTC session time
 * zone, affectedRows counting changed rows (not matched ones: no-op updates are detected by
 * it), BIGINT as numbers, mysql2's compiled row parsers.
 */
export function createDriverPool(options: DriverPoolOptions): mysql.Pool {
  const pool = mysql.createPool({
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    connectionLimit: options.size,
    maxIdle: options.size,
    idleTimeout: 30_000,
    waitForConnections: true,
    connectTimeout: options.connectTimeoutMs,
    flags: ['-FOUND_ROWS'],
    timezone: 'Z',
    charset: 'utf8mb4',
    // Seqs and counters fit in 2^53 by contract.
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
    // Set here, not per query: a per-query typeCast next to a connection-level one makes mysql2
    // miss its parser cache on every query and keep every parser.
    typeCast: true,
  });
  // NOW(3) and stored DATETIMEs are UTC (the outbox compares them); the pool emits this before
  // the connection is handed out, and the connection runs its commands in order.
  pool.on('connection', (conn) => conn.query("SET time_zone = '+00:00'", () => undefined));
  return pool;
}

/**
 * A connection from the pool, or UNAVAILABLE-class error when none frees up in time (mysql2
 * would wait without bound while every connection hangs on a frozen server).
 */
export function acquire(pool: mysql.Pool, timeoutMs: number): Promise<DriverConnection> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(
        Object.assign(new Error(`no MySQL connection free within ${timeoutMs} ms`), {
          code: 'POOL_ACQUIRE_TIMEOUT',
        }),
      );
    }, timeoutMs);
    pool.getConnection((err, conn) => {
      clearTimeout(timer);
      if (timedOut) conn?.release();
      else if (err) reject(err);
      else resolve(conn);
    });
  });
}

/** One statement on a driver connection. */
export function query(conn: DriverConnection, sql: string, params: Params): Promise<unknown> {
  return new Promise((resolve, reject) =>
    conn.query(
      {
        sql,
        // mysql2 takes an object for :name placeholders; its typings only list arrays.
        values: prepareParams(params) as mysql.QueryOptions['values'],
        namedPlaceholders: !Array.isArray(params),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    ),
  );
}

/** An open transaction: pass it to select/execute to run statements inside it. */
export interface Transaction {
  readonly connection: DriverConnection;
}
