import { execute, select, withTransaction, type Sequelize, type Transaction } from '@im-repo/db';
import type { Enqueued } from '@im-repo/outbox';
import { MessageStatus } from './message.types';

/** A ClearHistory's outcome: the user's floor now, and whether this call moved it. */
export interface FloorOutcome {
  clearedSeq: number;
  moved: boolean;
  enqueued?: Enqueued;
}

/** A conversation whose oldest unexpired messages are past the window, up to which seq. */
export interface ExpiryCandidate {
  conversationId: string;
  /** The highest candidate seq found; every seq below it is at least as old (seq order). */
  upToSeq: number;
}

/** What one retention batch expired in one conversation: seqs (from, to]. */
export interface ExpiredRange {
  conversationId: string;
  fromSeq: number;
  toSeq: number;
}

/**
 * message_floors (ClearHistory) and message_expiry (retention): what hides the low seqs of a
 * conversation from reads. Both only ever move forward.
 */
export class HistoryRepository {
  constructor(private readonly db: Sequelize) {}

  /**
   * Seqs at or below which this user reads nothing in the conversation: the higher of their
   * floor and the conversation's expiry watermark. One round trip, two primary-key lookups.
   */
  async hiddenUpTo(conversationId: string, userId: string): Promise<number> {
    const [row] = await select<{ floor_seq: number | null; expired_seq: number | null }>(
      this.db,
      `SELECT (SELECT cleared_seq FROM message_floors
               WHERE conversation_id = ? AND user_id = ?) AS floor_seq,
              (SELECT expired_seq FROM message_expiry WHERE conversation_id = ?) AS expired_seq`,
      [conversationId, userId, conversationId],
    );
    return Math.max(Number(row?.floor_seq ?? 0), Number(row?.expired_seq ?? 0));
  }

  /**
   * Raises the user's floor to seq (never lowers it). When it moved, `enqueue` writes the
   * outbox rows of the change in the same transaction, at its commit clock.
   */
  async raiseFloor(
    conversationId: string,
    userId: string,
    seq: number,
    enqueue: (t: Transaction, clearedSeq: number, at: Date) => Promise<Enqueued>,
  ): Promise<FloorOutcome> {
    return withTransaction(this.db, async (t) => {
      // The row first (a no-op when it exists), then a locking read of it: concurrent clears of
      // one user queue on that row, so exactly one of them sees the floor move.
      await execute(
        this.db,
        `INSERT INTO message_floors (conversation_id, user_id, cleared_seq, updated_at)
         VALUES (?, ?, 0, UTC_TIMESTAMP(3))
         ON DUPLICATE KEY UPDATE cleared_seq = cleared_seq`,
        [conversationId, userId],
        t,
      );
      const [row] = await select<{ cleared_seq: number; now: Date }>(
        this.db,
        `SELECT cleared_seq, UTC_TIMESTAMP(3) AS now FROM message_floors
         WHERE conversation_id = ? AND user_id = ? FOR UPDATE`,
        [conversationId, userId],
        t,
      );
      const current = Number(row!.cleared_seq);
      if (current >= seq) return { clearedSeq: current, moved: false };
      await execute(
        this.db,
        `UPDATE message_floors SET cleared_seq = ?, updated_at = ?
         WHERE conversation_id = ? AND user_id = ?`,
        [seq, row!.now, conversationId, userId],
        t,
      );
      return { clearedSeq: seq, moved: true, enqueued: await enqueue(t, seq, row!.now) };
    });
  }

  /**
   * Up to `limit` unexpired messages sent before the window (on the database clock), grouped
   * by conversation, and the database clock itself. A plain read: the batch locks what it
   * changes.
   */
  async expiryCandidates(
    retentionSeconds: number,
    limit: number,
  ): Promise<{ candidates: ExpiryCandidate[]; now: Date }> {
    const rows = await select<{ conversation_id: string; seq: number; now: Date }>(
      this.db,
      `SELECT conversation_id, seq, UTC_TIMESTAMP(3) AS now
       FROM messages FORCE INDEX (ix_messages_status_sent_at)
       WHERE status IN (?) AND sent_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND
       LIMIT ?`,
      [
        [MessageStatus.NORMAL, MessageStatus.RECALLED, MessageStatus.DELETED],
        retentionSeconds,
        limit,
      ],
    );
    const upTo = new Map<string, number>();
    for (const r of rows) {
      upTo.set(r.conversation_id, Math.max(upTo.get(r.conversation_id) ?? 0, Number(r.seq)));
    }
    const now = rows[0]?.now ?? (await this.clock());
    return {
      candidates: [...upTo].map(([conversationId, upToSeq]) => ({ conversationId, upToSeq })),
      now,
    };
  }

  private async clock(): Promise<Date> {
    const [row] = await select<{ now: Date }>(this.db, 'SELECT UTC_TIMESTAMP(3) AS now');
    return row!.now;
  }

  /**
   * Expires, in one short READ COMMITTED transaction, the next at most `limit` seqs (in all) of
   * these conversations, each up to its upToSeq, in seq order: the content is erased, status
   * EXPIRED, the row (and so the idempotency key and seq) kept, and each conversation's
   * watermark moves with its range. Watermark rows are claimed with SKIP LOCKED, so replicas
   * never work on one conversation at once; `skipped` names the conversations another replica
   * holds or that have nothing left below upToSeq. Old rows only: sends insert above max_seq
   * and lock conversation_seqs, neither of which this touches.
   */
  async expireBatch(
    candidates: ExpiryCandidate[],
    limit: number,
  ): Promise<{ ranges: ExpiredRange[]; skipped: string[] }> {
    if (candidates.length === 0) return { ranges: [], skipped: [] };
    const ids = candidates.map((c) => c.conversationId).sort();
    await execute(
      this.db,
      `INSERT INTO message_expiry (conversation_id, expired_seq, updated_at)
       VALUES ${ids.map(() => '(?, 0, UTC_TIMESTAMP(3))').join(', ')}
       ON DUPLICATE KEY UPDATE expired_seq = expired_seq`,
      ids,
    );
    return withTransaction(
      this.db,
      async (t) => {
        const claimed = await select<{ conversation_id: string; expired_seq: number }>(
          this.db,
          `SELECT conversation_id, expired_seq FROM message_expiry
           WHERE conversation_id IN (?) ORDER BY conversation_id FOR UPDATE SKIP LOCKED`,
          [ids],
          t,
        );
        const watermark = new Map(claimed.map((r) => [r.conversation_id, Number(r.expired_seq)]));
        const ranges: ExpiredRange[] = [];
        const skipped: string[] = [];
        let budget = limit;
        for (const c of candidates) {
          const fromSeq = watermark.get(c.conversationId);
          if (fromSeq === undefined) {
            skipped.push(c.conversationId);
            continue;
          }
          if (budget === 0) continue;
          const toSeq = Math.min(c.upToSeq, fromSeq + budget);
          if (toSeq <= fromSeq) {
            // A row below the watermark that is not EXPIRED was changed after it expired (not
            // by this service's own writes, which never touch expired rows); it would keep
            // coming back as a candidate, so it expires again.
            await execute(
              this.db,
              `UPDATE messages SET status = ?, content = ''
               WHERE conversation_id = ? AND seq <= ? AND status <> ?`,
              [MessageStatus.EXPIRED, c.conversationId, c.upToSeq, MessageStatus.EXPIRED],
              t,
            );
            skipped.push(c.conversationId);
            continue;
          }
          // Every seq up to the watermark is expired and none above it, so the next ones in seq
          // order are exactly the range above it.
          await execute(
            this.db,
            `UPDATE messages SET status = ?, content = ''
             WHERE conversation_id = ? AND seq > ? AND seq <= ? AND status <> ?`,
            [MessageStatus.EXPIRED, c.conversationId, fromSeq, toSeq, MessageStatus.EXPIRED],
            t,
          );
          await execute(
            this.db,
            `UPDATE message_expiry SET expired_seq = ?, updated_at = UTC_TIMESTAMP(3)
             WHERE conversation_id = ?`,
            [toSeq, c.conversationId],
            t,
          );
          ranges.push({ conversationId: c.conversationId, fromSeq, toSeq });
          budget -= toSeq - fromSeq;
        }
        return { ranges, skipped };
      },
      { isolation: 'READ COMMITTED', retries: 0 },
    );
  }
}
