import { MessageServiceService } from './gen/im/message/v1/message';
import { createClient, type ClientOptions, type PromiseClient, type ServiceInfo } from './client';

export * from './gen/im/message/v1/message';

export const messageService: ServiceInfo<typeof MessageServiceService> = {
  name: 'im.message.v1.MessageService',
  package: 'im.message.v1',
  protoFile: 'im/message/v1/message.proto',
  definition: MessageServiceService,
};

export type MessageServicePromiseClient = PromiseClient<typeof MessageServiceService>;

export function createMessageServiceClient(
  address: string,
  options?: ClientOptions,
): MessageServicePromiseClient {
  return createClient(messageService, address, options);
}
