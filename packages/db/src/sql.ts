import type { Sequelize } from 'sequelize';
import type { Transaction } from './transaction';

/** What MySQL reports for a write. */
export interface WriteResult {
  affectedRows: number;
  insertId: number;
}

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

/** The mysql2 (callback API) connection Sequelize pools. */
export interface DriverConnection {
  query(
    options: { sql: string; values: unknown; namedPlaceholders?: boolean },
    callback: (err: Error | null, result: unknown) => void,
  ): void;
}

export interface DriverPool {
  getConnection(options?: object): Promise<DriverConnection>;
  releaseConnection(connection: DriverConnection): Promise<void> | void;
}

/** Sequelize's pool of driver connections (its connection manager). */
export function driverPool(db: Sequelize): DriverPool {
  return (db as unknown as { connectionManager: DriverPool }).connectionManager;
}

/** One statement on a driver connection. */
export function query(conn: DriverConnection, sql: string, params: Params): Promise<unknown> {
  return new Promise((resolve, reject) =>
    conn.query(
      {
        sql,
        values: prepareParams(params),
        namedPlaceholders: !Array.isArray(params),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    ),
  );
}

const statements = new WeakMap<Sequelize, number>();

/** Statements run through select/execute on this instance so far (tests bound query counts). */
export function statementCount(db: Sequelize): number {
  return statements.get(db) ?? 0;
}

/**
 * Runs one statement on the driver connection itself: the transaction's, or one borrowed from
 * Sequelize's pool. Sequelize's own query() re-parses the SQL for placeholders, clones options
 * and wraps results on every call, which costs more than the statement on hot paths; mysql2
 * formats `?` (arrays expand for IN (?), arrays of arrays for VALUES ?) and `:name` parameters
 * itself.
 */
async function run(db: Sequelize, sql: string, params: Params, t?: Transaction): Promise<unknown> {
  statements.set(db, (statements.get(db) ?? 0) + 1);
  if (t) return query(t.connection, sql, params);
  const pool = driverPool(db);
  const conn = await pool.getConnection({});
  try {
    return await query(conn, sql, params);
  } finally {
    await pool.releaseConnection(conn);
  }
}

/**
 * Repositories talk SQL through these two functions, bound to their service's own Sequelize
 * instance (not static model classes), so several instances of a service can share a process.
 * Parameters are `?` (or `:name` with an object), escaped by the driver.
 */
export async function select<T extends object>(
  sequelize: Sequelize,
  sql: string,
  params: Params = [],
  transaction?: Transaction,
): Promise<T[]> {
  return (await run(sequelize, sql, params, transaction)) as T[];
}

export async function execute(
  sequelize: Sequelize,
  sql: string,
  params: Params = [],
  transaction?: Transaction,
): Promise<WriteResult> {
  const header = (await run(sequelize, sql, params, transaction)) as {
    affectedRows?: number;
    insertId?: number;
  };
  return { affectedRows: header?.affectedRows ?? 0, insertId: Number(header?.insertId ?? 0) };
}
