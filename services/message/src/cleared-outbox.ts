import type { NewOutboxRow, OutboxHandler } from '@im-repo/outbox';
import { ClearedRecord, type ConversationServicePromiseClient } from '@im-repo/proto/conversation';

/** The outbox topic of ConversationService.RecordCleared: one row per floor that moved. */
export const CLEARED_TOPIC = 'conversation.cleared-records';

/**
 * A ClearHistory's outbox row, keyed by the user: the conversation service makes their row read
 * up to the floor and stops showing the messages at or below it as its last message.
 */
export function clearedRow(
  userId: string,
  conversationId: string,
  clearedSeq: number,
): NewOutboxRow {
  return {
    topic: CLEARED_TOPIC,
    key: userId,
    payload: ClearedRecord.encode({ userId, conversationId, clearedSeq }).finish(),
  };
}

/**
 * Delivers a batch of floors in one RecordCleared call. Floors only rise and the conversation
 * service keeps the highest, so batches may arrive in any order and more than once.
 */
export function clearedHandler(client: ConversationServicePromiseClient): OutboxHandler {
  return async (rows) => {
    await client.recordCleared({ records: rows.map((r) => ClearedRecord.decode(r.payload)) });
  };
}
