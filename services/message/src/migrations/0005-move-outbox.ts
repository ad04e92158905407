import { execute, select, type Migration } from '@im-repo/db';
import { createOutboxTable } from '@im-repo/outbox';
import { MessageRecord as RecordMessage } from '@im-repo/proto/conversation';
import { recordRows, RECORDS_TOPIC } from '../record-outbox';
import type { ConversationKind } from '../message.types';

const CHUNK = 1000;

/**
 * The record outbox moves to the shared outbox's table (same name, new shape), its pending
 * rows carried over as RecordMessages payloads read from the messages they point at, so an
 * upgrade loses no record. Rows keep their attempts and schedule, and go in (conversation,
 * seq) order, so ids follow seq within a conversation.
 */
export const moveOutbox: Migration = {
  name: '0005-move-outbox',
  async up(ctx) {
    await ctx.sql('RENAME TABLE message_outbox TO message_outbox_legacy');
    await createOutboxTable(ctx, 'message_outbox');
    for (let last = { c: '', s: 0 }; ;) {
      const pending = await select<{
        conversation_id: string;
        conversation_type: number;
        sender_id: string;
        recipient_id: string;
        seq: number;
        sent_at: Date;
        attempts: number;
        next_attempt_at: Date;
        created_at: Date;
      }>(
        ctx.sequelize,
        `SELECT o.conversation_id, o.seq, o.attempts, o.next_attempt_at, o.created_at,
                m.conversation_type, m.sender_id, m.recipient_id, m.sent_at
         FROM message_outbox_legacy o
         JOIN messages m ON m.conversation_id = o.conversation_id AND m.seq = o.seq
         WHERE (o.conversation_id, o.seq) > (?, ?)
         ORDER BY o.conversation_id, o.seq LIMIT ${CHUNK}`,
        [last.c, last.s],
      );
      if (pending.length === 0) break;
      const payloads = recordRows(
        pending.map((r) => ({
          conversationId: r.conversation_id,
          conversationType: r.conversation_type as ConversationKind,
          senderId: r.sender_id,
          recipientId: r.recipient_id,
          seq: Number(r.seq),
          sentAt: r.sent_at,
          serverMsgId: '',
          clientMsgId: '',
          contentType: 0,
          content: Buffer.alloc(0),
          status: 1,
        })),
      );
      await execute(
        ctx.sequelize,
        `INSERT INTO message_outbox
           (topic, ordering_key, payload, attempts, next_attempt_at, created_at) VALUES ?`,
        [
          pending.map((r, i) => [
            RECORDS_TOPIC,
            r.conversation_id,
            Buffer.from(payloads[i]!.payload),
            r.attempts,
            r.next_attempt_at,
            r.created_at,
          ]),
        ],
      );
      const tail = pending[pending.length - 1]!;
      last = { c: tail.conversation_id, s: Number(tail.seq) };
    }
    await ctx.sql('DROP TABLE message_outbox_legacy');
  },
  async down(ctx) {
    await ctx.sql('RENAME TABLE message_outbox TO message_outbox_shared');
    await ctx.sql(`
      CREATE TABLE message_outbox (
        conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        seq             BIGINT      NOT NULL,
        created_at      DATETIME(3) NOT NULL,
        next_attempt_at DATETIME(3) NOT NULL,
        attempts        INT         NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, seq),
        KEY ix_message_outbox_due (next_attempt_at)
      ) ENGINE=InnoDB`);
    // The record's (conversation, seq) is all the old table kept; the rest is in messages.
    for (let last = 0; ;) {
      const shared = await select<{
        id: number;
        payload: Buffer;
        attempts: number;
        next_attempt_at: Date;
        created_at: Date;
      }>(
        ctx.sequelize,
        `SELECT id, payload, attempts, next_attempt_at, created_at FROM message_outbox_shared
         WHERE topic = ? AND id > ? ORDER BY id LIMIT ${CHUNK}`,
        [RECORDS_TOPIC, last],
      );
      if (shared.length === 0) break;
      await execute(
        ctx.sequelize,
        `INSERT IGNORE INTO message_outbox
           (conversation_id, seq, created_at, next_attempt_at, attempts) VALUES ?`,
        [
          shared.map((r) => {
            const record = RecordMessage.decode(r.payload);
            return [record.conversationId, record.seq, r.created_at, r.next_attempt_at, r.attempts];
          }),
        ],
      );
      last = Number(shared[shared.length - 1]!.id);
    }
    await ctx.sql('DROP TABLE message_outbox_shared');
  },
};
