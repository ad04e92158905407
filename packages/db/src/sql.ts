import type { Sequelize } from 'sequelize';
import { withDriverConnection } from './connection';
import { query, type Params, type Transaction } from './driver';

/** What MySQL reports for a write. */
export interface WriteResult {
  affectedRows: number;
  insertId: number;
}

const statements = new WeakMap<Sequelize, number>();

/** Statements run through select/execute on this instance so far (tests bound query counts). */
export function statementCount(db: Sequelize): number {
  return statements.get(db) ?? 0;
}

/**
 * Runs one statement on the driver connection itself: the transaction's, or one borrowed from
 * the driver pool. Sequelize's own query() re-parses the SQL for placeholders, clones options
 * and wraps results on every call, which costs more than the statement on hot paths; mysql2
 * formats `?` (arrays expand for IN (?), arrays of arrays for VALUES ?) and `:name` parameters
 * itself.
 */
async function run(db: Sequelize, sql: string, params: Params, t?: Transaction): Promise<unknown> {
  statements.set(db, (statements.get(db) ?? 0) + 1);
  if (t) return query(t.connection, sql, params);
  return withDriverConnection(db, (conn) => query(conn, sql, params));
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
