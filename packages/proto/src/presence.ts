import { PresenceServiceService } from './gen/im/presence/v1/presence';
import { createClient, type ClientOptions, type PromiseClient, type ServiceInfo } from './client';

export * from './gen/im/presence/v1/presence';

export const presenceService: ServiceInfo<typeof PresenceServiceService> = {
  name: 'im.presence.v1.PresenceService',
  package: 'im.presence.v1',
  protoFile: 'im/presence/v1/presence.proto',
  definition: PresenceServiceService,
};

export type PresenceServicePromiseClient = PromiseClient<typeof PresenceServiceService>;

export function createPresenceServiceClient(
  address: string,
  options?: ClientOptions,
): PresenceServicePromiseClient {
  return createClient(presenceService, address, options);
}
