import type { Conversation } from '@im-repo/proto/conversation';
import type { ConversationView } from './conversation.types';
import { protoType } from './conversation.validation';

// Records (the domain's plain data) to their proto messages: the one mapping the handlers and
// the change events share, so an event's payload is exactly what the rpc answered.

export function toProto(c: ConversationView): Conversation {
  return {
    conversationId: c.conversationId,
    conversationType: protoType(c.kind),
    peerId: c.peerId,
    maxSeq: c.maxSeq,
    readSeq: c.readSeq,
    unreadCount: c.unreadCount,
    pinned: c.pinned,
    muted: c.muted,
    lastMessage: c.lastMessage,
    lastMessageTruncated: c.lastMessageTruncated,
    updatedAt: c.updatedAt,
  };
}
