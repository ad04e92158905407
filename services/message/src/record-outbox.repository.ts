import { execute, select, withTransaction, type Sequelize } from '@im-repo/db';
import type { ConversationKind, ConversationRecord } from './message.types';

export interface OutboxKey {
  conversationId: string;
  seq: number;
}

/** message_outbox: sends whose RecordMessages is not confirmed yet. */
export class RecordOutboxRepository {
  constructor(private readonly db: Sequelize) {}

  /**
   * Takes up to `limit` due rows and pushes them leaseMs into the future, so no other replica
   * sends them while this one tries. SKIP LOCKED lets replicas claim side by side.
   */
  async claimDue(limit: number, leaseMs: number): Promise<OutboxKey[]> {
    return withTransaction(this.db, async (t) => {
      const rows = await select<{ conversation_id: string; seq: number }>(
        this.db,
        `SELECT conversation_id, seq FROM message_outbox
         WHERE next_attempt_at <= UTC_TIMESTAMP(3)
         ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
        t,
      );
      if (rows.length === 0) return [];
      const keys = rows.map((r) => ({ conversationId: r.conversation_id, seq: Number(r.seq) }));
      await execute(
        this.db,
        `UPDATE message_outbox
         SET attempts = attempts + 1,
             next_attempt_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
         WHERE (conversation_id, seq) IN (?)`,
        [leaseMs * 1000, keys.map((k) => [k.conversationId, k.seq])],
        t,
      );
      return keys;
    });
  }

  /** The records of these rows, from the messages they point at. */
  async records(keys: OutboxKey[]): Promise<ConversationRecord[]> {
    if (keys.length === 0) return [];
    const rows = await select<{
      conversation_id: string;
      conversation_type: number;
      sender_id: string;
      recipient_id: string;
      seq: number;
      sent_at: Date;
    }>(
      this.db,
      `SELECT conversation_id, conversation_type, sender_id, recipient_id, seq, sent_at
       FROM messages WHERE (conversation_id, seq) IN (?)`,
      [keys.map((k) => [k.conversationId, k.seq])],
    );
    return rows.map((r) => ({
      conversationId: r.conversation_id,
      conversationType: r.conversation_type as ConversationKind,
      senderId: r.sender_id,
      recipientId: r.recipient_id,
      seq: Number(r.seq),
      sentAt: r.sent_at,
    }));
  }

  /**
   * Makes rows due again after a failed call, backing off per row: baseMs x 2^attempts, at most
   * maxMs. The pacing lives in the row, so replicas share it instead of each retrying at once.
   */
  async release(keys: OutboxKey[], baseMs: number, maxMs: number): Promise<void> {
    if (keys.length === 0) return;
    await execute(
      this.db,
      `UPDATE message_outbox
       SET next_attempt_at = UTC_TIMESTAMP(3)
         + INTERVAL CAST(LEAST(?, ? * POW(2, attempts)) * 1000 AS UNSIGNED) MICROSECOND
       WHERE (conversation_id, seq) IN (?)`,
      [maxMs, baseMs, keys.map((k) => [k.conversationId, k.seq])],
    );
  }

  async remove(keys: OutboxKey[]): Promise<void> {
    if (keys.length === 0) return;
    await execute(this.db, 'DELETE FROM message_outbox WHERE (conversation_id, seq) IN (?)', [
      keys.map((k) => [k.conversationId, k.seq]),
    ]);
  }

  async pending(): Promise<number> {
    const [row] = await select<{ n: number }>(
      this.db,
      'SELECT CAST(COUNT(*) AS SIGNED) AS n FROM message_outbox',
    );
    return Number(row?.n ?? 0);
  }
}
