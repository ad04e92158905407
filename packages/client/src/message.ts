import { createClient, type ClientOptions, type PromiseClient } from './client';
import * as messages from './gen/im/message/v1/message';
import { MessageServiceService } from './gen/im/message/v1/message';
import type { ServiceInfo } from './service-info';

export * from './gen/im/message/v1/message';

export const messageService: ServiceInfo<typeof MessageServiceService> = {
  name: 'im.message.v1.MessageService',
  package: 'im.message.v1',
  protoFile: 'im/message/v1/message.proto',
  messages,
  definition: MessageServiceService,
};

export type MessageServicePromiseClient = PromiseClient<typeof MessageServiceService>;

export function createMessageServiceClient(
  address: string,
  options?: ClientOptions,
): MessageServicePromiseClient {
  return createClient(messageService, address, options);
}
