import type { Sequelize } from 'sequelize';

// The driver layer under sql.ts and transaction.ts: mysql2 connections from Sequelize's pool and
// one statement on one of them. Both modules build on this one, so neither imports the other.

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

/** An open transaction: pass it to select/execute to run statements inside it. */
export interface Transaction {
  readonly connection: DriverConnection;
}
