import type { Sequelize } from 'sequelize';
import { isDeadlock } from './errors';
import { withDriverConnection } from './connection';
import { query, type DriverConnection, type Transaction } from './driver';

export interface TransactionOptions {
  /** Extra attempts after a deadlock or lock-wait timeout (InnoDB rolled the whole txn back). */
  retries?: number;
  /**
   * The isolation level of this transaction (the session's default, REPEATABLE READ, when
   * unset). READ COMMITTED takes no gap locks, for writers that must never deadlock on them.
   */
  isolation?: 'READ COMMITTED' | 'REPEATABLE READ';
}

/**
 * Runs fn in one transaction on one pooled connection: committed when it resolves, rolled back
 * when it throws. Statements go straight to the driver (BEGIN and COMMIT included): Sequelize's
 * own transaction() adds a uuid, CLS bookkeeping and its query pipeline to every one, which the
 * send path pays per batch. A deadlock aborts the whole transaction, so fn is simply run again.
 */
export async function withTransaction<T>(
  sequelize: Sequelize,
  fn: (t: Transaction) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await withDriverConnection(sequelize, (connection) =>
        inTransaction(connection, fn, options.isolation),
      );
    } catch (err) {
      if (attempt >= retries || !isDeadlock(err)) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}

async function inTransaction<T>(
  connection: DriverConnection,
  fn: (t: Transaction) => Promise<T>,
  isolation: TransactionOptions['isolation'],
): Promise<T> {
  // Without SESSION it applies to the next transaction only, so the pool's connection goes back
  // with its default.
  if (isolation) await query(connection, `SET TRANSACTION ISOLATION LEVEL ${isolation}`, []);
  await query(connection, 'START TRANSACTION', []);
  let result: T;
  try {
    result = await fn({ connection });
    await query(connection, 'COMMIT', []);
  } catch (err) {
    // A failed ROLLBACK means a broken connection: it is destroyed, not pooled, on the way out.
    await query(connection, 'ROLLBACK', []).catch(() => undefined);
    throw err;
  }
  return result;
}
