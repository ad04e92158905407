import type {
  ContentType,
  ConversationHead as ProtoHead,
  ConversationType,
  Message,
} from '@im-repo/proto/message';
import { type ConversationHead, type MessageRecord, MessageStatus } from './message.types';

// Records (the domain's plain data) to their proto messages: the one mapping the handlers and
// the change events share, so an event's payload is exactly what the rpc answered.

export function toProto(m: MessageRecord): Message {
  return {
    serverMsgId: m.serverMsgId,
    clientMsgId: m.clientMsgId,
    conversationId: m.conversationId,
    conversationType: m.conversationType as number as ConversationType,
    seq: m.seq,
    senderId: m.senderId,
    recipientId: m.recipientId,
    contentType: m.contentType as ContentType,
    content: m.content,
    status: m.status as number,
    sentAt: m.sentAt,
  };
}

// A head whose last message expired keeps its max_seq and shows no last message.
export const headToProto = (h: ConversationHead): ProtoHead =>
  h.lastMessage.status === MessageStatus.EXPIRED
    ? { conversationId: h.conversationId, maxSeq: h.maxSeq, lastMessageTruncated: false }
    : {
        conversationId: h.conversationId,
        maxSeq: h.maxSeq,
        lastMessage: toProto(h.lastMessage),
        lastMessageTruncated: h.lastMessageTruncated,
      };
