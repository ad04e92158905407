import { eventBatchRow, eventRow, newEvent } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { toProto } from './message.mapping';
import type { MessageRecord } from './message.types';

// Pure: domain results -> outbox rows of the change events. A conversation's events (created
// and recalled) go in batch rows, which the outbox delivers in id order, so they keep commit
// order across kinds and replicas; each event is keyed by conversation (the subject's last token).

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

/** conversation.cleared: a ClearHistory that moved the user's floor, at its commit time. */
export function clearedEvent(
  userId: string,
  conversationId: string,
  clearedSeq: number,
  occurredAt: Date,
): NewOutboxRow {
  return eventRow(userId, occurredAt, {
    $case: 'conversationCleared',
    value: { userId, conversationId, clearedSeq },
  });
}
