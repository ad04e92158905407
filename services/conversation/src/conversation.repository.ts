import { execute, select, withTransaction, type Sequelize, type Transaction } from '@im-repo/db';
import { listOrder } from './conversation-list';
import type {
  ClearedRecordInput,
  ConversationKind,
  UserConversationRecord,
} from './conversation.types';
import { DeletedUsersRepository } from './deleted-users.repository';

interface Row {
  user_id: string;
  conversation_id: string;
  conversation_type: number;
  peer_id: string;
  read_seq: number;
  pinned: number;
  muted: number;
  hidden_seq: number;
  created_at: Date;
  activity_max_seq: number | null;
  last_sent_at: Date | null;
  frozen_seq: number | null;
  frozen_at: Date | null;
  cleared_seq: number;
}

/**
 * Runs in the transaction of a user-row change that changed something: the row before and
 * after, and the database clock (the change's events are written here).
 */
export type OnRowChange = (
  t: Transaction,
  before: UserConversationRecord,
  after: UserConversationRecord,
  at: Date,
) => Promise<unknown>;

/** A conversation's activity as one batch of records moves it (highest seq of the batch). */
export interface ActivityUpsert {
  conversationId: string;
  maxSeq: number;
  lastSentAt: Date;
}

/** A user row to create if missing (what happens to an existing one is the writer's rule). */
export interface UserRowUpsert {
  userId: string;
  conversationId: string;
  kind: ConversationKind;
  peerId: string;
  readSeq: number;
}

const KIND_CODE: Record<ConversationKind, number> = { single: 1, group: 2 };
const kindOf = (code: number): ConversationKind => (code === 2 ? 'group' : 'single');

// A record only ever raises an existing row's read_seq (updated_at moves with it).
const RAISE_READ_SEQ = `updated_at = IF(VALUES(read_seq) > read_seq, VALUES(updated_at), updated_at),
  read_seq = GREATEST(read_seq, VALUES(read_seq))`;

// Rows per multi-row statement: keeps a statement well under max_allowed_packet.
const ROWS_PER_STATEMENT = 1000;

const SELECT_JOINED = `
  SELECT uc.user_id, uc.conversation_id, uc.conversation_type, uc.peer_id, uc.read_seq,
         uc.pinned, uc.muted, uc.hidden_seq, uc.created_at, uc.frozen_seq, uc.frozen_at,
         uc.cleared_seq,
         a.max_seq AS activity_max_seq, a.last_sent_at
  FROM user_conversations uc
  LEFT JOIN conversation_activity a ON a.conversation_id = uc.conversation_id`;

/** A former member's row reads as the conversation was when they left. */
function toRecord(row: Row): UserConversationRecord {
  const frozen = row.frozen_seq !== null;
  return {
    userId: row.user_id,
    conversationId: row.conversation_id,
    kind: kindOf(row.conversation_type),
    peerId: row.peer_id,
    readSeq: Number(row.read_seq),
    pinned: Boolean(row.pinned),
    muted: Boolean(row.muted),
    hiddenSeq: Number(row.hidden_seq),
    createdAt: row.created_at,
    activityMaxSeq: frozen
      ? Number(row.frozen_seq)
      : row.activity_max_seq === null
        ? 0
        : Number(row.activity_max_seq),
    lastSentAt: frozen ? row.frozen_at : row.last_sent_at,
    frozenSeq: frozen ? Number(row.frozen_seq) : null,
    clearedSeq: Number(row.cleared_seq),
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** user_conversations and conversation_activity. Plain records out; knows nothing of gRPC. */
export class ConversationRepository {
  private readonly deletedUsers: DeletedUsersRepository;

  constructor(private readonly db: Sequelize) {
    this.deletedUsers = new DeletedUsersRepository(db);
  }

  /** A deleted user: every row dropped, and none written for them again. */
  forgetUser(userId: string): Promise<void> {
    return this.deletedUsers.forget(userId);
  }

  /**
   * Every row of one user (hidden ones too: they still count towards totals), in list order:
   * pinned first, then last activity newest first, then conversation id.
   */
  async listForUser(userId: string): Promise<UserConversationRecord[]> {
    // Sorted here, not by MySQL: a filesort over the join cost the server more per list than
    // the whole page's other work there, and the order is one comparison in JS (listOrder).
    const rows = await select<Row>(this.db, `${SELECT_JOINED} WHERE uc.user_id = ?`, [userId]);
    return rows.map(toRecord).sort(listOrder);
  }

  async find(userId: string, conversationId: string): Promise<UserConversationRecord | null> {
    const [row] = await select<Row>(
      this.db,
      `${SELECT_JOINED} WHERE uc.user_id = ? AND uc.conversation_id = ?`,
      [userId, conversationId],
    );
    return row ? toRecord(row) : null;
  }

  /** Raises read_seq to readSeq (never lowers it: concurrent calls end at the highest). */
  async raiseReadSeq(
    userId: string,
    conversationId: string,
    readSeq: number,
    now: Date,
    onChange?: OnRowChange,
  ): Promise<void> {
    await this.changeUserRow(
      userId,
      conversationId,
      `UPDATE user_conversations SET read_seq = ?, updated_at = ?
       WHERE user_id = ? AND conversation_id = ? AND read_seq < ?`,
      [readSeq, now, userId, conversationId, readSeq],
      onChange,
    );
  }

  async setFlag(
    userId: string,
    conversationId: string,
    flag: 'pinned' | 'muted',
    value: boolean,
    now: Date,
    onChange?: OnRowChange,
  ): Promise<void> {
    const v = value ? 1 : 0;
    await this.changeUserRow(
      userId,
      conversationId,
      `UPDATE user_conversations SET ${flag} = ?, updated_at = ?
       WHERE user_id = ? AND conversation_id = ? AND ${flag} <> ?`,
      [v, now, userId, conversationId, v],
      onChange,
    );
  }

  /**
   * Hides up to maxSeq and marks read up to it. Both only rise, so a slower concurrent hide
   * that saw an older max_seq cannot un-hide what a newer one hid.
   */
  async hide(
    userId: string,
    conversationId: string,
    maxSeq: number,
    now: Date,
    onChange?: OnRowChange,
  ): Promise<void> {
    await this.changeUserRow(
      userId,
      conversationId,
      `UPDATE user_conversations
       SET hidden_seq = GREATEST(hidden_seq, ?), read_seq = GREATEST(read_seq, ?), updated_at = ?
       WHERE user_id = ? AND conversation_id = ? AND (hidden_seq < ? OR read_seq < ?)`,
      [maxSeq, maxSeq, now, userId, conversationId, maxSeq, maxSeq],
      onChange,
    );
  }

  /**
   * One user-row UPDATE; with onChange, in a transaction that locks the row first, so the
   * before/after it sees are exactly this change's (concurrent calls queue on the lock).
   */
  private async changeUserRow(
    userId: string,
    conversationId: string,
    sql: string,
    params: unknown[],
    onChange: OnRowChange | undefined,
  ): Promise<void> {
    if (!onChange) {
      await execute(this.db, sql, params);
      return;
    }
    await withTransaction(this.db, async (t) => {
      // The lock first (only the user's row, never the shared activity row), then the reads:
      // the transaction's snapshot starts after the lock, so `before` is the latest row.
      const locked = await select<{ user_id: string }>(
        this.db,
        'SELECT user_id FROM user_conversations WHERE user_id = ? AND conversation_id = ? FOR UPDATE',
        [userId, conversationId],
        t,
      );
      if (locked.length === 0) return;
      const read = async () => {
        const [row] = await select<Row & { db_now: Date }>(
          this.db,
          `${SELECT_JOINED.replace('SELECT ', 'SELECT UTC_TIMESTAMP(6) AS db_now, ')}
           WHERE uc.user_id = ? AND uc.conversation_id = ?`,
          [userId, conversationId],
          t,
        );
        return row!;
      };
      const before = await read();
      const { affectedRows } = await execute(this.db, sql, params, t);
      if (affectedRows === 0) return;
      const after = await read();
      await onChange(t, toRecord(before), toRecord(after), after.db_now);
    });
  }

  /**
   * Applies one RecordMessages batch in one transaction: activity rows move forward, user rows
   * are created if missing and their read_seq only rises. Rows are written in key order so
   * concurrent batches lock in the same order.
   */
  async recordActivity(
    activity: ActivityUpsert[],
    userRows: UserRowUpsert[],
    now: Date,
  ): Promise<void> {
    const sortedActivity = [...activity].sort((a, b) => cmp(a.conversationId, b.conversationId));
    await withTransaction(
      this.db,
      async (t) => {
        // Deleted users get no rows (API.md: records that arrive for them later are dropped).
        const deleted = await this.deletedUsers.deletedAmong(
          userRows.map((r) => r.userId),
          t,
        );
        const sortedRows = userRows.filter((r) => !deleted.has(r.userId)).sort(byUserRowKey);
        for (const part of chunks(sortedActivity, ROWS_PER_STATEMENT)) {
          await this.upsertActivity(part, now, t);
        }
        for (const part of chunks(sortedRows, ROWS_PER_STATEMENT)) {
          await this.writeUserRows(part, now, RAISE_READ_SEQ, t);
        }
      },
      { retries: 5 },
    );
  }

  /**
   * Creates the rows that are missing; a frozen row (a former member re-added) follows the
   * conversation again, read up to the row's readSeq; other existing rows stay as they are.
   */
  async insertMissing(rows: UserRowUpsert[], now: Date): Promise<void> {
    await withTransaction(
      this.db,
      async (t) => {
        // Like recordActivity: a deleted user gets no row, even racing the deletion.
        const deleted = await this.deletedUsers.deletedAmong(
          rows.map((r) => r.userId),
          t,
        );
        const live = rows.filter((r) => !deleted.has(r.userId));
        for (const part of chunks(live.sort(byUserRowKey), ROWS_PER_STATEMENT)) {
          // read_seq and updated_at are assigned while frozen_seq still holds its old value,
          // whether MySQL assigns left to right or all at once.
          await this.writeUserRows(
            part,
            now,
            `read_seq = IF(frozen_seq IS NULL, read_seq, GREATEST(read_seq, VALUES(read_seq))),
         updated_at = IF(frozen_seq IS NULL, updated_at, VALUES(updated_at)),
         frozen_at = NULL,
         frozen_seq = NULL`,
            t,
          );
        }
      },
      { retries: 5 },
    );
  }

  /**
   * Raises each user's floor and read_seq to its clearedSeq (never lowers either), creating the
   * row when the floor arrives before the conversation's first record (both wait in the message
   * service's outbox while this service is down). Idempotent and order-independent.
   */
  async raiseCleared(records: ClearedRecordInput[], now: Date): Promise<void> {
    const sorted = [...records].sort(
      (a, b) => cmp(a.userId, b.userId) || cmp(a.conversationId, b.conversationId),
    );
    for (const part of chunks(sorted, ROWS_PER_STATEMENT)) {
      // updated_at is assigned while cleared_seq still holds its old value.
      await execute(
        this.db,
        `INSERT INTO user_conversations (user_id, conversation_id, conversation_type, peer_id,
           read_seq, cleared_seq, created_at, updated_at)
         VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE
           updated_at = IF(VALUES(cleared_seq) > cleared_seq, VALUES(updated_at), updated_at),
           read_seq = GREATEST(read_seq, VALUES(cleared_seq)),
           cleared_seq = GREATEST(cleared_seq, VALUES(cleared_seq))`,
        part.flatMap((r) => [
          r.userId,
          r.conversationId,
          KIND_CODE[r.kind],
          r.peerId,
          r.clearedSeq,
          r.clearedSeq,
          now,
          now,
        ]),
      );
    }
  }

  /** Freezes existing rows of these users at frozenSeq (a replay writes the same values). */
  async freeze(
    conversationId: string,
    userIds: string[],
    frozenSeq: number,
    frozenAt: Date | null,
    now: Date,
  ): Promise<void> {
    for (const part of chunks([...userIds].sort(cmp), ROWS_PER_STATEMENT)) {
      await execute(
        this.db,
        `UPDATE user_conversations SET frozen_seq = ?, frozen_at = ?, updated_at = ?
         WHERE conversation_id = ? AND user_id IN (?)`,
        [frozenSeq, frozenAt, now, conversationId, part],
      );
    }
  }

  // last_sent_at and updated_at are assigned before max_seq, so they compare with the old
  // max_seq whether MySQL assigns left to right or (SIMULTANEOUS_ASSIGNMENT) all at once.
  private async upsertActivity(part: ActivityUpsert[], now: Date, t: Transaction) {
    await execute(
      this.db,
      `INSERT INTO conversation_activity (conversation_id, max_seq, last_sent_at, updated_at)
       VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE
         last_sent_at = IF(VALUES(max_seq) > max_seq, VALUES(last_sent_at), last_sent_at),
         updated_at = IF(VALUES(max_seq) > max_seq, VALUES(updated_at), updated_at),
         max_seq = GREATEST(max_seq, VALUES(max_seq))`,
      part.flatMap((a) => [a.conversationId, a.maxSeq, a.lastSentAt, now]),
      t,
    );
  }

  /** One multi-row INSERT of user rows; onDuplicate says what an existing row gets. */
  private async writeUserRows(
    part: UserRowUpsert[],
    now: Date,
    onDuplicate: string,
    t?: Transaction,
  ) {
    await execute(
      this.db,
      `INSERT INTO user_conversations
         (user_id, conversation_id, conversation_type, peer_id, read_seq, created_at, updated_at)
       VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE ${onDuplicate}`,
      part.flatMap((r) => [
        r.userId,
        r.conversationId,
        KIND_CODE[r.kind],
        r.peerId,
        r.readSeq,
        now,
        now,
      ]),
      t,
    );
  }
}

/** Byte order, like the ascii_bin columns. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Key order of user rows, the order concurrent writers lock them in. */
const byUserRowKey = (a: UserRowUpsert, b: UserRowUpsert) =>
  cmp(a.userId, b.userId) || cmp(a.conversationId, b.conversationId);
