import { InvalidArgumentError } from '@im-repo/errors';
import { groupConversationId, parseConversationId, singleConversationId } from '@im-repo/proto';
import { ContentType, ConversationType, type MessageServiceService } from '@im-repo/proto/message';
import { type ServiceHandlers, validate } from '@im-repo/server-kit';
import type { MessageDomain } from './message.domain';
import { headToProto, toProto } from './message.mapping';
import type { UserForgetting } from './user-deletion';
import { ConversationKind, type HeadAt } from './message.types';

const MAX_IDS = 1000;
const MAX_SEQ_ONLY_IDS = 10_000;
const CONVERSATION_TYPES = [
  ConversationType.CONVERSATION_TYPE_SINGLE,
  ConversationType.CONVERSATION_TYPE_GROUP,
];
const CONTENT_TYPES = [
  ContentType.CONTENT_TYPE_TEXT,
  ContentType.CONTENT_TYPE_IMAGE,
  ContentType.CONTENT_TYPE_VOICE,
  ContentType.CONTENT_TYPE_VIDEO,
  ContentType.CONTENT_TYPE_FILE,
  ContentType.CONTENT_TYPE_CUSTOM,
];

export interface HandlerOptions {
  maxContentBytes: number;
  /** message.ForgetUser (internal, called by the user service after DeleteUser). */
  forgetting: UserForgetting;
}

function headsAt(refs: { conversationId: string; seq: number }[]): HeadAt[] {
  if (refs.length > MAX_IDS) {
    throw new InvalidArgumentError('heads_at', `heads_at holds ${refs.length}; at most ${MAX_IDS}`);
  }
  return refs.map((r, i) => {
    validate.conversationId(`heads_at[${i}].conversation_id`, r.conversationId);
    return {
      conversationId: r.conversationId,
      seq: validate.nonNegative(`heads_at[${i}].seq`, r.seq),
    };
  });
}

function conversationIds(field: string, ids: string[], max: number): string[] {
  if (ids.length > max) {
    throw new InvalidArgumentError(field, `${field} holds ${ids.length} ids; at most ${max}`);
  }
  // The field path is only built for an id that fails (a list asks for 200 at once); the one
  // rule still makes the error.
  for (let i = 0; i < ids.length; i++) {
    if (!parseConversationId(ids[i]!)) validate.conversationId(`${field}[${i}]`, ids[i]!);
  }
  return ids;
}

function content(value: Buffer, max: number): Buffer {
  if (value.length === 0) throw new InvalidArgumentError('content', 'content is required');
  if (value.length > max) {
    throw new InvalidArgumentError(
      'content',
      `content is ${value.length} bytes; at most ${max}`,
      'CONTENT_TOO_LARGE',
    );
  }
  return value;
}

/** gRPC layer: validates requests, calls the domain, maps records to proto. */
export function createMessageHandlers(
  domain: MessageDomain,
  options: HandlerOptions,
): ServiceHandlers<typeof MessageServiceService> {
  return {
    async sendMessage(req) {
      const clientMsgId = validate.text('client_msg_id', req.clientMsgId, 1, 64);
      const senderId = validate.id('sender_id', req.senderId);
      const type = validate.enumValue(
        'conversation_type',
        req.conversationType,
        CONVERSATION_TYPES,
      );
      const recipientId = validate.id('recipient_id', req.recipientId);
      const contentType = validate.enumValue('content_type', req.contentType, CONTENT_TYPES);
      const body = content(req.content, options.maxContentBytes);
      const single = type === ConversationType.CONVERSATION_TYPE_SINGLE;
      const { message, duplicate } = await domain.send({
        clientMsgId,
        senderId,
        conversationType: single ? ConversationKind.SINGLE : ConversationKind.GROUP,
        recipientId,
        conversationId: single
          ? singleConversationId(senderId, recipientId)
          : groupConversationId(recipientId),
        contentType,
        content: body,
      });
      return { message: toProto(message), duplicate };
    },

    async pullMessages(req) {
      const userId = validate.id('user_id', req.userId);
      const conversation = validate.conversationId('conversation_id', req.conversationId);
      const beginSeq = Math.max(1, validate.nonNegative('begin_seq', req.beginSeq));
      const endSeq = validate.nonNegative('end_seq', req.endSeq);
      if (endSeq !== 0 && endSeq < beginSeq) {
        throw new InvalidArgumentError('end_seq', 'end_seq must not be below begin_seq');
      }
      const limit = validate.pageSize('limit', req.limit, 50, 200);
      const { messages, maxSeq, minSeq } = await domain.pull(userId, conversation, {
        conversationId: conversation.conversationId,
        beginSeq,
        endSeq,
        limit,
        descending: req.descending,
      });
      return { messages: messages.map(toProto), maxSeq, minSeq };
    },

    async getMaxSeqs(req) {
      const ids = conversationIds('conversation_ids', req.conversationIds, MAX_IDS);
      return { maxSeqs: Object.fromEntries(await domain.maxSeqs(ids)) };
    },

    async getConversationHeads(req) {
      const ids = conversationIds('conversation_ids', req.conversationIds, MAX_IDS);
      const seqOnly = conversationIds('max_seq_only_ids', req.maxSeqOnlyIds, MAX_SEQ_ONLY_IDS);
      const { heads, maxSeqs } = await domain.conversationHeads(ids, seqOnly);
      return { heads: heads.map(headToProto), maxSeqs: Object.fromEntries(maxSeqs) };
    },

    async clearHistory(req) {
      // Validated like PullMessages.
      const userId = validate.id('user_id', req.userId);
      const conversation = validate.conversationId('conversation_id', req.conversationId);
      return { clearedSeq: await domain.clearHistory(userId, conversation) };
    },

    async getConversationHeadsAt(req) {
      const heads = await domain.conversationHeadsAt(headsAt(req.headsAt));
      return { heads: heads.map(headToProto) };
    },

    async forgetUser(req) {
      const userId = validate.id('user_id', req.userId);
      return { done: await options.forgetting.forget(userId, req.eraseContent) };
    },

    async recallMessage(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const conversation = validate.conversationId('conversation_id', req.conversationId);
      if (validate.nonNegative('seq', req.seq) === 0) {
        throw new InvalidArgumentError('seq', 'seq is required');
      }
      const message = await domain.recall(operatorId, conversation, req.seq);
      return { message: toProto(message) };
    },
  };
}
