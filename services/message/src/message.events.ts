import { eventRow } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { toProto } from './message.mapping';
import type { MessageRecord } from './message.types';

// Pure: domain results -> outbox rows of the change events, keyed by conversation (the
// subject's last token), so a conversation's created and recalled events keep commit order.

/** message.created per new message: the SendMessage answer's message; sent_at is the commit clock. */
export function createdEvents(messages: MessageRecord[]): NewOutboxRow[] {
  return messages.map((m) =>
    eventRow(m.conversationId, m.sentAt, {
      $case: 'messageCreated',
      value: { message: toProto(m) },
    }),
  );
}

/** message.recalled: the RecallMessage answer's message, at the recall's commit time. */
export function recalledEvent(
  message: MessageRecord,
  operatorId: string,
  occurredAt: Date,
): NewOutboxRow {
  return eventRow(message.conversationId, occurredAt, {
    $case: 'messageRecalled',
    value: { message: toProto(message), operatorId },
  });
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
