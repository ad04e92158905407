import { Transaction, type Sequelize } from 'sequelize';
import { isDeadlock } from './errors';

export interface TransactionOptions {
  /** Extra attempts after a deadlock or lock-wait timeout (InnoDB rolled the whole txn back). */
  retries?: number;
  /** e.g. READ COMMITTED for a claim query that must not take gap locks. */
  isolationLevel?: IsolationLevel;
}

export type IsolationLevel = `${Transaction.ISOLATION_LEVELS}`;

/**
 * Runs fn in one transaction: committed when it resolves, rolled back when it throws. A deadlock
 * aborts the whole transaction, so it is safe to run fn again from the start.
 */
export async function withTransaction<T>(
  sequelize: Sequelize,
  fn: (t: Transaction) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await sequelize.transaction(
        { isolationLevel: options.isolationLevel as Transaction.ISOLATION_LEVELS | undefined },
        (t) => fn(t),
      );
    } catch (err) {
      if (attempt >= retries || !isDeadlock(err)) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}
