import { eventRow } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { toProto } from './conversation.mapping';
import type { ConversationView } from './conversation.types';

// Pure: domain results -> outbox rows of the change events, keyed by user id (a user's events
// keep commit order across their conversations and kinds).

/** conversation.read: read_seq moved (MarkRead, HideConversation; never the sender's own send). */
export function readEvent(userId: string, view: ConversationView, at: Date): NewOutboxRow {
  return eventRow(userId, at, {
    $case: 'conversationRead',
    value: {
      userId,
      conversationId: view.conversationId,
      readSeq: view.readSeq,
      unreadCount: view.unreadCount,
    },
  });
}

/** conversation.updated: SetPinned, SetMuted or HideConversation changed the row; the rpc's answer. */
export function updatedEvent(userId: string, view: ConversationView, at: Date): NewOutboxRow {
  return eventRow(userId, at, {
    $case: 'conversationUpdated',
    value: { userId, conversation: toProto(view) },
  });
}
