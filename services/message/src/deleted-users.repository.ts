import { execute, select, withTransaction, type Sequelize } from '@im-repo/db';
import type { MessageRow } from './message.repository';
import { MessageStatus, type ConversationKind, type MessageRecord } from './message.types';

/** What the erasure reads of a message: the row without its content and status. */
type SentRow = Omit<MessageRow, 'content' | 'status'>;

/** The message_deleted_users table, and the erasure of a deleted user's messages. No gRPC types. */
export class DeletedUsersRepository {
  constructor(private readonly db: Sequelize) {}

  /** Records the deletion (idempotent: the first time stays). */
  async add(userId: string): Promise<void> {
    await execute(
      this.db,
      'INSERT IGNORE INTO message_deleted_users (user_id, deleted_at) VALUES (?, UTC_TIMESTAMP(3))',
      [userId],
    );
  }

  /** Which of these users are deleted (one primary-key lookup each, one statement). */
  async findDeleted(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await select<{ user_id: string }>(
      this.db,
      'SELECT user_id FROM message_deleted_users WHERE user_id IN (?)',
      [userIds],
    );
    return new Set(rows.map((r) => r.user_id));
  }

  /**
   * Erases the next `limit` messages of a deleted user, in the order of their (sender_id,
   * client_msg_id) key, from the cursor stored with the deletion: status DELETED, content
   * empty, seq kept. Returns the erased messages (content empty) and whether none are left.
   * Repeating a batch (two replicas, a retry) changes nothing more.
   */
  async eraseBatch(
    userId: string,
    limit: number,
  ): Promise<{ erased: MessageRecord[]; done: boolean }> {
    return withTransaction(this.db, async (t) => {
      const [state] = await select<{ erase_after: Buffer | null; erased_at: Date | null }>(
        this.db,
        'SELECT erase_after, erased_at FROM message_deleted_users WHERE user_id = ? FOR UPDATE',
        [userId],
        t,
      );
      if (!state) return { erased: [], done: true };
      if (state.erased_at) return { erased: [], done: true };
      const after = state.erase_after ?? Buffer.alloc(0);
      const rows = await select<SentRow>(
        this.db,
        `SELECT conversation_id, seq, server_msg_id, client_msg_id, conversation_type, sender_id,
                recipient_id, content_type, sent_at
           FROM messages WHERE sender_id = ? AND client_msg_id > ?
          ORDER BY client_msg_id LIMIT ?`,
        [userId, after, limit],
        t,
      );
      const byConversation = new Map<string, number[]>();
      for (const r of rows) {
        const seqs = byConversation.get(r.conversation_id);
        if (seqs) seqs.push(Number(r.seq));
        else byConversation.set(r.conversation_id, [Number(r.seq)]);
      }
      for (const [conversationId, seqs] of byConversation) {
        await execute(
          this.db,
          `UPDATE messages SET status = ?, content = ''
            WHERE conversation_id = ? AND seq IN (?) AND status IN (?, ?)`,
          [
            MessageStatus.DELETED,
            conversationId,
            seqs,
            MessageStatus.NORMAL,
            MessageStatus.RECALLED,
          ],
          t,
        );
      }
      const done = rows.length < limit;
      const last = rows[rows.length - 1];
      await execute(
        this.db,
        `UPDATE message_deleted_users SET erase_after = ?, erased_at = IF(?, UTC_TIMESTAMP(3), NULL)
          WHERE user_id = ?`,
        [last ? last.client_msg_id : state.erase_after, done, userId],
        t,
      );
      return {
        done,
        erased: rows.map((r) => ({
          serverMsgId: r.server_msg_id,
          clientMsgId: Buffer.from(r.client_msg_id).toString('utf8'),
          conversationId: r.conversation_id,
          conversationType: r.conversation_type as ConversationKind,
          seq: Number(r.seq),
          senderId: r.sender_id,
          recipientId: r.recipient_id,
          contentType: r.content_type,
          content: Buffer.alloc(0),
          status: MessageStatus.DELETED,
          sentAt: r.sent_at,
        })),
      };
    });
  }
}
