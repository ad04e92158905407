import type { NewOutboxRow, OutboxHandler } from '@im-repo/outbox';
import {
  MessageRecord as RecordMessage,
  type ConversationServicePromiseClient,
} from '@im-repo/proto/conversation';
import type { MessageMetrics } from './message.metrics';
import type { MessageRecord } from './message.types';

/** The outbox topic of ConversationService.RecordMessages: one row per sent message. */
export const RECORDS_TOPIC = 'conversation.records';

/**
 * A send's outbox row: its RecordMessages record, keyed by conversation (so a conversation's
 * records reach the conversation service in seq order).
 */
export function recordRows(messages: MessageRecord[]): NewOutboxRow[] {
  return messages.map((m) => ({
    topic: RECORDS_TOPIC,
    key: m.conversationId,
    payload: RecordMessage.encode({
      conversationId: m.conversationId,
      conversationType: m.conversationType,
      senderId: m.senderId,
      recipientId: m.recipientId,
      seq: m.seq,
      sentAt: m.sentAt,
    }).finish(),
  }));
}

/** Delivers a batch of record rows, of any conversations, in one RecordMessages call. */
export function recordsHandler(
  client: ConversationServicePromiseClient,
  metrics: MessageMetrics,
): OutboxHandler {
  return async (rows, { path }) => {
    const records = rows.map((r) => RecordMessage.decode(r.payload));
    try {
      await client.recordMessages({ records });
    } catch (err) {
      metrics.records.inc({ path, result: 'error' }, records.length);
      throw err;
    }
    metrics.records.inc({ path, result: 'ok' }, records.length);
  };
}
