import type { ConversationServiceService } from '@im-repo/proto/conversation';
import { type ServiceHandlers, validate } from '@im-repo/server-kit';
import type { ConversationDomain } from './conversation.domain';
import { toProto } from './conversation.mapping';
import {
  clearedRecords,
  decodeListToken,
  encodeListToken,
  messageRecords,
  participants,
  removedParticipants,
} from './conversation.validation';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

const userId = (value: string) => validate.id('user_id', value);
const conversationId = (value: string) =>
  validate.conversationId('conversation_id', value).conversationId;

/** gRPC layer: validates requests, calls the domain, maps records to proto. */
export function createConversationHandlers(
  domain: ConversationDomain,
): ServiceHandlers<typeof ConversationServiceService> {
  return {
    async listConversations(req) {
      const user = userId(req.userId);
      const size = validate.pageSize('page_size', req.pageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const token = decodeListToken(req.pageToken);
      const page = await domain.listConversations(user, size, token);
      return {
        conversations: page.conversations.map(toProto),
        nextPageToken: page.next ? encodeListToken(page.next) : '',
        totalUnread: page.totalUnread,
      };
    },

    async getConversation(req) {
      const user = userId(req.userId);
      const id = conversationId(req.conversationId);
      return { conversation: toProto(await domain.getConversation(user, id)) };
    },

    async markRead(req) {
      const user = userId(req.userId);
      const id = conversationId(req.conversationId);
      const readSeq = validate.nonNegative('read_seq', req.readSeq);
      return { conversation: toProto(await domain.markRead(user, id, readSeq)) };
    },

    async getTotalUnread(req) {
      return { totalUnread: await domain.getTotalUnread(userId(req.userId)) };
    },

    async setPinned(req) {
      const user = userId(req.userId);
      const id = conversationId(req.conversationId);
      return { conversation: toProto(await domain.setPinned(user, id, req.pinned)) };
    },

    async setMuted(req) {
      const user = userId(req.userId);
      const id = conversationId(req.conversationId);
      return { conversation: toProto(await domain.setMuted(user, id, req.muted)) };
    },

    async hideConversation(req) {
      const user = userId(req.userId);
      await domain.hideConversation(user, conversationId(req.conversationId));
      return {};
    },

    async recordMessages(req) {
      await domain.recordMessages(messageRecords(req.records));
      return {};
    },

    async addParticipants(req) {
      await domain.addParticipants(participants(req));
      return {};
    },

    async removeParticipants(req) {
      await domain.removeParticipants(removedParticipants(req));
      return {};
    },

    async forgetUser(req) {
      await domain.forgetUser(validate.id('user_id', req.userId));
      return {};
    },

    async recordCleared(req) {
      await domain.recordCleared(clearedRecords(req.records));
      return {};
    },
  };
}
