import { execute, select, withTransaction, type Sequelize, type Transaction } from '@im-repo/db';

/** One user whose join the conversation service has not acknowledged yet. */
export interface OutboxEntry {
  id: number;
  groupId: string;
  userId: string;
  attempts: number;
}

interface OutboxRow {
  id: number;
  group_id: string;
  user_id: string;
  attempts: number;
}

const INSERT_CHUNK = 1000;

/** The group_participant_outbox table: durable "tell the conversation service" rows. */
export class ParticipantOutboxRepository {
  constructor(private readonly db: Sequelize) {}

  /** Queues joins; runs in the caller's membership transaction so both commit or neither. */
  async enqueue(
    groupId: string,
    userIds: string[],
    notBefore: Date,
    now: Date,
    t: Transaction,
  ): Promise<void> {
    for (let i = 0; i < userIds.length; i += INSERT_CHUNK) {
      const chunk = userIds.slice(i, i + INSERT_CHUNK);
      await execute(
        this.db,
        `INSERT INTO group_participant_outbox (group_id, user_id, attempts, next_attempt_at, created_at)
         VALUES ${chunk.map(() => '(?, ?, 0, ?, ?)').join(', ')}`,
        chunk.flatMap((userId) => [groupId, userId, notBefore, now]),
        t,
      );
    }
  }

  /**
   * Claims up to `limit` due rows for this replica: locked rows (another replica's claim in
   * progress) are skipped, and the claimed ones are pushed to `leaseUntil` before the lock is
   * released, so no other replica retries them while this one is calling.
   */
  async claimDue(
    now: Date,
    limit: number,
    leaseUntil: (attempts: number) => Date,
  ): Promise<OutboxEntry[]> {
    return withTransaction(this.db, async (t) => {
      const rows = await select<OutboxRow>(
        this.db,
        // The due index keeps the scan (and so the rows it locks) to the due rows it returns.
        `SELECT id, group_id, user_id, attempts
         FROM group_participant_outbox FORCE INDEX (idx_group_participant_outbox_due)
         WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
         FOR UPDATE SKIP LOCKED`,
        [now, limit],
        t,
      );
      // Rows with the same attempt count share one lease, so this is one UPDATE per count.
      const byAttempts = new Map<number, number[]>();
      for (const row of rows) {
        const ids = byAttempts.get(row.attempts) ?? [];
        ids.push(row.id);
        byAttempts.set(row.attempts, ids);
      }
      for (const [attempts, ids] of byAttempts) {
        await execute(
          this.db,
          `UPDATE group_participant_outbox SET attempts = attempts + 1, next_attempt_at = ?
           WHERE id IN (?)`,
          [leaseUntil(attempts), ids],
          t,
        );
      }
      return rows.map((r) => ({
        id: r.id,
        groupId: r.group_id,
        userId: r.user_id,
        attempts: r.attempts + 1,
      }));
    });
  }

  async deleteByIds(ids: number[], t?: Transaction): Promise<void> {
    if (ids.length === 0) return;
    await execute(this.db, 'DELETE FROM group_participant_outbox WHERE id IN (?)', [ids], t);
  }

  /**
   * Forgets pending joins of these users. Delivery is idempotent and carries nothing but the
   * group and user, so one success covers every row of that pair, and a removed member's
   * pending join must not be delivered after the removal. The rows are found by a plain read
   * and deleted by primary key: no gap locks, so this never deadlocks with a membership
   * transaction queueing joins of the same group (its uncommitted rows are not seen, and are
   * delivered by their own call).
   */
  async deleteFor(groupId: string, userIds: string[], t?: Transaction): Promise<void> {
    if (userIds.length === 0) return;
    const rows = await select<{ id: number }>(
      this.db,
      'SELECT id FROM group_participant_outbox WHERE group_id = ? AND user_id IN (?)',
      [groupId, userIds],
      t,
    );
    await this.deleteByIds(
      rows.map((r) => r.id),
      t,
    );
  }

  async countPending(): Promise<number> {
    const [row] = await select<{ n: number }>(
      this.db,
      'SELECT COUNT(*) AS n FROM group_participant_outbox',
    );
    return Number(row?.n ?? 0);
  }
}
