import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';

/** What MySQL reports for a write. */
export interface WriteResult {
  affectedRows: number;
  insertId: number;
}

export type Params = unknown[] | Record<string, unknown>;

/** DATETIME(3) text in UTC; Sequelize's own Date escaping drops the milliseconds. */
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

/**
 * Repositories talk SQL through these two functions, bound to their service's own Sequelize
 * instance (not static model classes), so several instances of a service can share a process.
 * Parameters are `?` or `:name` replacements, escaped by Sequelize; arrays expand for IN (?).
 */
export async function select<T extends object>(
  sequelize: Sequelize,
  sql: string,
  params: Params = [],
  transaction?: Transaction,
): Promise<T[]> {
  return sequelize.query<T>(sql, {
    replacements: prepareParams(params),
    type: QueryTypes.SELECT,
    transaction,
    raw: true,
  });
}

export async function execute(
  sequelize: Sequelize,
  sql: string,
  params: Params = [],
  transaction?: Transaction,
): Promise<WriteResult> {
  // Sequelize answers INSERTs with [insertId, affectedRows] and other writes with the driver's
  // ResultSetHeader (twice); both become one shape here.
  const [first, second] = (await sequelize.query(sql, {
    replacements: prepareParams(params),
    transaction,
    raw: true,
  })) as [unknown, unknown];
  if (typeof first === 'number' || typeof second === 'number') {
    return { insertId: Number(first ?? 0), affectedRows: Number(second ?? 0) };
  }
  const header = first as { affectedRows?: number; insertId?: number } | undefined;
  return { affectedRows: header?.affectedRows ?? 0, insertId: header?.insertId ?? 0 };
}
