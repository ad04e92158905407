import { eventBatchRow, newEvent } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { toProto } from './message.mapping';
import type { MessageRecord } from './message.types';

// Pure: domain results -> outbox rows of the change events. Every event of the message service
// goes in a batch row, which the outbox delivers in id order (one key), so a conversation's
// events keep commit order across kinds and replicas; each event inside is keyed by its
// subject's last token (conversation, or the user for conversation.cleared).

/**
 * message.created per new message (the SendMessage answer's message; sent_at is the commit
 * clock), all of one commit in one outbox row: one insert and one delete per commit, not per
 * message.
 */
export function createdEvents(messages: MessageRecord[]): NewOutboxRow[] {
  if (messages.length === 0) return [];
  return [
    eventBatchRow(
      messages.map((m) =>
        newEvent(m.conversationId, m.sentAt, {
          $case: 'messageCreated',
          value: { message: toProto(m) },
        }),
      ),
    ),
  ];
}

/**
 * message.recalled: the RecallMessage answer's message, at the recall's commit time; a batch row
 * of one, so it stays behind its message's created event.
 */
export function recalledEvent(
  message: MessageRecord,
  operatorId: string,
  occurredAt: Date,
): NewOutboxRow {
  return eventBatchRow([
    newEvent(message.conversationId, occurredAt, {
      $case: 'messageRecalled',
      value: { message: toProto(message), operatorId },
    }),
  ]);
}

/**
 * conversation.cleared: a ClearHistory that moved the user's floor, at its commit time; a batch
 * row too, so it follows the message.created events the clear read (one commit order for every
 * event of the message service).
 */
export function clearedEvent(
  userId: string,
  conversationId: string,
  clearedSeq: number,
  occurredAt: Date,
): NewOutboxRow {
  return eventBatchRow([
    newEvent(userId, occurredAt, {
      $case: 'conversationCleared',
      value: { userId, conversationId, clearedSeq },
    }),
  ]);
}
