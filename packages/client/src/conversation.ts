import { createClient, type ClientOptions, type PromiseClient } from './client';
import * as messages from './gen/im/conversation/v1/conversation';
import { ConversationServiceService } from './gen/im/conversation/v1/conversation';
import type { ServiceInfo } from './service-info';

export * from './gen/im/conversation/v1/conversation';

export const conversationService: ServiceInfo<typeof ConversationServiceService> = {
  name: 'im.conversation.v1.ConversationService',
  package: 'im.conversation.v1',
  protoFile: 'im/conversation/v1/conversation.proto',
  messages,
  definition: ConversationServiceService,
};

export type ConversationServicePromiseClient = PromiseClient<typeof ConversationServiceService>;

export function createConversationServiceClient(
  address: string,
  options?: ClientOptions,
): ConversationServicePromiseClient {
  return createClient(conversationService, address, options);
}
