import { GroupServiceService } from './gen/im/group/v1/group';
import { createClient, type ClientOptions, type PromiseClient, type ServiceInfo } from './client';

export * from './gen/im/group/v1/group';

export const groupService: ServiceInfo<typeof GroupServiceService> = {
  name: 'im.group.v1.GroupService',
  package: 'im.group.v1',
  protoFile: 'im/group/v1/group.proto',
  definition: GroupServiceService,
};

export type GroupServicePromiseClient = PromiseClient<typeof GroupServiceService>;

export function createGroupServiceClient(
  address: string,
  options?: ClientOptions,
): GroupServicePromiseClient {
  return createClient(groupService, address, options);
}
