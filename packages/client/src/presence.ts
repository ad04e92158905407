import { createClient, type ClientOptions, type PromiseClient } from './client';
import * as messages from './gen/im/presence/v1/presence';
import { PresenceServiceService } from './gen/im/presence/v1/presence';
import type { ServiceInfo } from './service-info';

export * from './gen/im/presence/v1/presence';

export const presenceService: ServiceInfo<typeof PresenceServiceService> = {
  name: 'im.presence.v1.PresenceService',
  package: 'im.presence.v1',
  protoFile: 'im/presence/v1/presence.proto',
  messages,
  definition: PresenceServiceService,
};

export type PresenceServicePromiseClient = PromiseClient<typeof PresenceServiceService>;

export function createPresenceServiceClient(
  address: string,
  options?: ClientOptions,
): PresenceServicePromiseClient {
  return createClient(presenceService, address, options);
}
