import {
  execute,
  isUniqueViolation,
  select,
  violatedKey,
  withTransaction,
  type Sequelize,
  type Transaction,
} from '@im-repo/db';
import { InvalidArgumentError } from '@im-repo/errors';
import { previewOf, PREVIEW_BYTES } from './preview';
import type { Enqueued } from '@im-repo/outbox';
import {
  MessageStatus,
  sendKey,
  type ConversationHead,
  type HeadAt,
  type ConversationKind,
  type MessageRecord,
  type PullRange,
  type SendInput,
} from './message.types';

/** A messages row as the driver returns it. */
export interface MessageRow {
  conversation_id: string;
  seq: number;
  server_msg_id: string;
  client_msg_id: Buffer;
  conversation_type: number;
  sender_id: string;
  recipient_id: string;
  content_type: number;
  content: Buffer;
  status: number;
  sent_at: Date;
}

const COLUMNS =
  'conversation_id, seq, server_msg_id, client_msg_id, conversation_type, sender_id, ' +
  'recipient_id, content_type, content, status, sent_at';

const m = (alias: string) =>
  COLUMNS.split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');

function toRecord(row: MessageRow): MessageRecord {
  return {
    serverMsgId: row.server_msg_id,
    clientMsgId: Buffer.from(row.client_msg_id).toString('utf8'),
    conversationId: row.conversation_id,
    conversationType: row.conversation_type as ConversationKind,
    seq: Number(row.seq),
    senderId: row.sender_id,
    recipientId: row.recipient_id,
    contentType: row.content_type,
    content: row.content ?? Buffer.alloc(0),
    status: row.status as MessageStatus,
    sentAt: row.sent_at,
  };
}

// The message columns with content cut to one byte over the preview: enough to know whether
// the preview cut it, without reading the rest out of MySQL. Its one parameter is that length.
const PREVIEW_COLUMNS = COLUMNS.split(', ')
  .map((c) => (c === 'content' ? 'SUBSTRING(m.content, 1, ?) AS content' : `m.${c}`))
  .join(', ');

function toHead(maxSeq: number, row: MessageRow): ConversationHead {
  const message = toRecord(row);
  const { content, truncated } = previewOf(message.content, message.contentType);
  return {
    conversationId: message.conversationId,
    maxSeq,
    lastMessage: { ...message, content },
    lastMessageTruncated: truncated,
  };
}

/** What one group-commit transaction did. */
export interface CommitOutcome {
  /** Sends that already existed (by sender_id + client_msg_id), keyed by sendKey. */
  existing: Map<string, MessageRecord>;
  /** The new messages, in input order. */
  inserted: MessageRecord[];
  /** Time spent reserving seqs (row-lock wait included). */
  reserveSeconds: number;
  /** The outbox rows written with them, for the delivery after commit. */
  enqueued: Enqueued;
}

export interface CommitOptions {
  /** Server message id generator. */
  newId: () => string;
  /** Writes the new messages' outbox rows in the transaction. */
  enqueue(t: Transaction, inserted: MessageRecord[]): Promise<Enqueued>;
}

// The columns' limits (migrations 0001 and 0004).
const COLUMN_LIMITS = { conversation_id: 140, sender_id: 64, recipient_id: 64 } as const;
const CLIENT_MSG_ID_BYTES = 256;
const MEDIUMBLOB_BYTES = 16 * 1024 * 1024 - 1;
const ASCII = /^[\x21-\x7e]*$/;

/**
 * Throws INVALID_ARGUMENT when a row for this send could not be stored, so such a send is
 * refused alone before it joins a group commit (where its error would fail everyone's batch).
 * The handlers' validation is stricter; this holds whatever calls the batcher.
 */
export function assertStorable(input: SendInput): void {
  const ids = {
    conversation_id: input.conversationId,
    sender_id: input.senderId,
    recipient_id: input.recipientId,
  };
  for (const [field, value] of Object.entries(ids) as [keyof typeof ids, string][]) {
    if (value.length > COLUMN_LIMITS[field] || !ASCII.test(value)) {
      throw new InvalidArgumentError(field, `${field} cannot be stored`, 'VALUE_TOO_LONG');
    }
  }
  if (Buffer.byteLength(input.clientMsgId, 'utf8') > CLIENT_MSG_ID_BYTES) {
    throw new InvalidArgumentError(
      'client_msg_id',
      'client_msg_id cannot be stored',
      'VALUE_TOO_LONG',
    );
  }
  if (
    !Number.isInteger(input.contentType) ||
    input.contentType < -32768 ||
    input.contentType > 32767
  ) {
    throw new InvalidArgumentError(
      'content_type',
      'content_type cannot be stored',
      'VALUE_OUT_OF_RANGE',
    );
  }
  if (input.content.length > MEDIUMBLOB_BYTES) {
    throw new InvalidArgumentError('content', 'content cannot be stored', 'CONTENT_TOO_LARGE');
  }
}
const NOTHING_ENQUEUED: Enqueued = { rows: [], inline: [] };

/** Another writer inserted one of the batch's (sender_id, client_msg_id) first. */
export const DUPLICATE_RACE = 'duplicate-race' as const;

/** messages and conversation_seqs. Returns plain records; knows nothing of gRPC. */
export class MessageRepository {
  constructor(private readonly db: Sequelize) {}

  /**
   * One transaction for a batch of sends with distinct (sender_id, client_msg_id): existing ones
   * are returned as such; the others get seqs reserved on their conversations' rows and are
   * inserted with their outbox rows. Rolled back on any error, which returns the seqs. Returns
   * DUPLICATE_RACE when another writer committed one of the keys after our check.
   */
  async commitBatch(
    inputs: SendInput[],
    options: CommitOptions,
  ): Promise<CommitOutcome | typeof DUPLICATE_RACE> {
    try {
      return await withTransaction(this.db, (t) => this.commitIn(t, inputs, options));
    } catch (err) {
      if (isUniqueViolation(err) && violatedKey(err) === 'uk_messages_sender_client') {
        return DUPLICATE_RACE;
      }
      throw err;
    }
  }

  private async commitIn(
    t: Transaction,
    inputs: SendInput[],
    options: CommitOptions,
  ): Promise<CommitOutcome> {
    const existing = new Map<string, MessageRecord>();
    for (const message of await this.findBySendKeys(inputs, t)) {
      existing.set(sendKey(message.senderId, message.clientMsgId), message);
    }
    const fresh = inputs.filter((i) => !existing.has(sendKey(i.senderId, i.clientMsgId)));
    if (fresh.length === 0) {
      return { existing, inserted: [], reserveSeconds: 0, enqueued: NOTHING_ENQUEUED };
    }

    const counts = new Map<string, number>();
    for (const i of fresh) counts.set(i.conversationId, (counts.get(i.conversationId) ?? 0) + 1);
    // One fixed lock order (by id) for every batch, so two batches never wait on each other in
    // a cycle.
    const conversations = [...counts.keys()].sort();
    const started = process.hrtime.bigint();
    await execute(
      this.db,
      `INSERT INTO conversation_seqs (conversation_id, max_seq, updated_at)
       VALUES ${conversations.map(() => '(?, ?, UTC_TIMESTAMP(3))').join(', ')}
       ON DUPLICATE KEY UPDATE max_seq = max_seq + VALUES(max_seq), updated_at = VALUES(updated_at)`,
      conversations.flatMap((c) => [c, counts.get(c)!]),
      t,
    );
    // Locking read: the rows are ours until commit, so these are the maxima we just made.
    const rows = await select<{ conversation_id: string; max_seq: number; now: Date }>(
      this.db,
      `SELECT conversation_id, max_seq, UTC_TIMESTAMP(3) AS now
       FROM conversation_seqs WHERE conversation_id IN (?) FOR UPDATE`,
      [conversations],
      t,
    );
    const reserveSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const next = new Map<string, number>();
    for (const row of rows) {
      next.set(row.conversation_id, Number(row.max_seq) - counts.get(row.conversation_id)! + 1);
    }
    // The database clock, read under the locks, keeps sent_at in seq order across replicas.
    const sentAt = rows[0]!.now;

    const inserted: MessageRecord[] = fresh.map((i) => {
      const seq = next.get(i.conversationId)!;
      next.set(i.conversationId, seq + 1);
      return {
        serverMsgId: options.newId(),
        clientMsgId: i.clientMsgId,
        conversationId: i.conversationId,
        conversationType: i.conversationType,
        seq,
        senderId: i.senderId,
        recipientId: i.recipientId,
        contentType: i.contentType,
        content: i.content,
        status: MessageStatus.NORMAL,
        sentAt,
      };
    });
    await execute(
      this.db,
      `INSERT INTO messages (${COLUMNS}) VALUES ?`,
      [
        inserted.map((r) => [
          r.conversationId,
          r.seq,
          r.serverMsgId,
          Buffer.from(r.clientMsgId, 'utf8'),
          r.conversationType,
          r.senderId,
          r.recipientId,
          r.contentType,
          r.content,
          r.status,
          r.sentAt,
        ]),
      ],
      t,
    );
    const enqueued = await options.enqueue(t, inserted);
    return { existing, inserted, reserveSeconds, enqueued };
  }

  async findBySendKeys(
    keys: { senderId: string; clientMsgId: string }[],
    t?: Transaction,
  ): Promise<MessageRecord[]> {
    if (keys.length === 0) return [];
    const rows = await select<MessageRow>(
      this.db,
      `SELECT ${COLUMNS} FROM messages WHERE (sender_id, client_msg_id) IN (?)`,
      [keys.map((k) => [k.senderId, Buffer.from(k.clientMsgId, 'utf8')])],
      t,
    );
    return rows.map(toRecord);
  }

  async findBySendKey(senderId: string, clientMsgId: string): Promise<MessageRecord | null> {
    const [found] = await this.findBySendKeys([{ senderId, clientMsgId }]);
    return found ?? null;
  }

  /** The message and the database's clock (recall windows are measured on sent_at's clock). */
  async findWithClock(
    conversationId: string,
    seq: number,
  ): Promise<{ message: MessageRecord; now: Date } | null> {
    const [row] = await select<MessageRow & { db_now: Date }>(
      this.db,
      `SELECT ${COLUMNS}, UTC_TIMESTAMP(3) AS db_now FROM messages
       WHERE conversation_id = ? AND seq = ?`,
      [conversationId, seq],
    );
    return row ? { message: toRecord(row), now: row.db_now } : null;
  }

  async findMessage(conversationId: string, seq: number): Promise<MessageRecord | null> {
    const [row] = await select<MessageRow>(
      this.db,
      `SELECT ${COLUMNS} FROM messages WHERE conversation_id = ? AND seq = ?`,
      [conversationId, seq],
    );
    return row ? toRecord(row) : null;
  }

  /**
   * Erases the content and marks the message recalled, in one transaction with what `enqueue`
   * writes for a recall that changed the row (at its commit clock); a no-op when it already is.
   */
  async recall(
    conversationId: string,
    seq: number,
    enqueue: (t: Transaction, recalled: MessageRecord, at: Date) => Promise<Enqueued>,
  ): Promise<{ recalled: MessageRecord; enqueued: Enqueued }> {
    return withTransaction(this.db, async (t) => {
      const changed = await execute(
        this.db,
        `UPDATE messages SET status = ?, content = '', recalled_at = UTC_TIMESTAMP(3)
         WHERE conversation_id = ? AND seq = ? AND status = ?`,
        [MessageStatus.RECALLED, conversationId, seq, MessageStatus.NORMAL],
        t,
      );
      const [row] = await select<MessageRow & { recalled_at: Date | null }>(
        this.db,
        `SELECT ${COLUMNS}, recalled_at FROM messages WHERE conversation_id = ? AND seq = ?`,
        [conversationId, seq],
        t,
      );
      const recalled = toRecord(row!);
      const enqueued =
        changed.affectedRows > 0 ? await enqueue(t, recalled, row!.recalled_at!) : NOTHING_ENQUEUED;
      return { recalled, enqueued };
    });
  }

  /** max_seq of the known conversations among ids. */
  async maxSeqs(conversationIds: string[]): Promise<Map<string, number>> {
    if (conversationIds.length === 0) return new Map();
    const rows = await select<{ conversation_id: string; max_seq: number }>(
      this.db,
      'SELECT conversation_id, max_seq FROM conversation_seqs WHERE conversation_id IN (?)',
      [conversationIds],
    );
    return new Map(rows.map((r) => [r.conversation_id, Number(r.max_seq)]));
  }

  /** Heads of the known conversations among ids: max_seq and (a preview of) the message at it. */
  async heads(conversationIds: string[]): Promise<ConversationHead[]> {
    if (conversationIds.length === 0) return [];
    const rows = await select<MessageRow & { max_seq: number }>(
      this.db,
      `SELECT s.max_seq, ${PREVIEW_COLUMNS} FROM conversation_seqs s
       JOIN messages m ON m.conversation_id = s.conversation_id AND m.seq = s.max_seq
       WHERE s.conversation_id IN (?)`,
      [PREVIEW_BYTES + 1, conversationIds],
    );
    return rows.map((r) => toHead(Number(r.max_seq), r));
  }

  /** Each conversation as of a seq: max_seq = seq and (a preview of) the message at it. */
  async headsAt(refs: HeadAt[]): Promise<ConversationHead[]> {
    if (refs.length === 0) return [];
    const rows = await select<MessageRow>(
      this.db,
      `SELECT ${PREVIEW_COLUMNS} FROM messages m WHERE (m.conversation_id, m.seq) IN (?)`,
      [PREVIEW_BYTES + 1, refs.map((r) => [r.conversationId, r.seq])],
    );
    return rows.map((r) => toHead(Number(r.seq), r));
  }

  /**
   * What `readerId` can read of [beginSeq, endSeq] (endSeq already resolved): seqs above their
   * floor and the expiry watermark, at most limit of them, and only as many as fit in
   * size.maxBytes counting size.perMessage on top of each content (always at least one). Sizes
   * are summed in SQL, so contents that would not fit never leave MySQL. One statement, so one
   * snapshot: the messages and `hiddenUpTo` (that floor or watermark, null when no message came
   * back) agree even while the retention job commits.
   */
  async pull(
    range: PullRange & { endSeq: number },
    readerId: string,
    size: { maxBytes: number; perMessage: number },
  ): Promise<{ messages: MessageRecord[]; hiddenUpTo: number | null }> {
    const order = range.descending ? 'DESC' : 'ASC';
    const hidden = `GREATEST(
      COALESCE((SELECT cleared_seq FROM message_floors
                WHERE conversation_id = ? AND user_id = ?), 0),
      COALESCE((SELECT expired_seq FROM message_expiry WHERE conversation_id = ?), 0))`;
    const hiddenParams = [range.conversationId, readerId, range.conversationId];
    const rows = await select<MessageRow & { hidden_up_to: number }>(
      this.db,
      `SELECT ${m('m')}, ${hidden} AS hidden_up_to FROM (
         SELECT seq, SUM(bytes) OVER (ORDER BY seq ${order}) AS total,
                ROW_NUMBER() OVER (ORDER BY seq ${order}) AS n
         FROM (SELECT seq, LENGTH(content) + ? AS bytes FROM messages
               WHERE conversation_id = ? AND seq BETWEEN ? AND ? AND seq > ${hidden}
                 AND status <> ?
               ORDER BY seq ${order} LIMIT ?) r
       ) w
       JOIN messages m ON m.conversation_id = ? AND m.seq = w.seq
       WHERE w.n = 1 OR w.total <= ?
       ORDER BY m.seq ${order}`,
      [
        ...hiddenParams,
        size.perMessage,
        range.conversationId,
        range.beginSeq,
        range.endSeq,
        ...hiddenParams,
        MessageStatus.EXPIRED,
        range.limit,
        range.conversationId,
        size.maxBytes,
      ],
    );
    return {
      messages: rows.map(toRecord),
      hiddenUpTo: rows.length > 0 ? Number(rows[0]!.hidden_up_to) : null,
    };
  }
}
