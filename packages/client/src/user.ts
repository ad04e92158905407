import { createClient, type ClientOptions, type PromiseClient } from './client';
import * as messages from './gen/im/user/v1/user';
import { UserServiceService } from './gen/im/user/v1/user';
import type { ServiceInfo } from './service-info';

export * from './gen/im/user/v1/user';

export const userService: ServiceInfo<typeof UserServiceService> = {
  name: 'im.user.v1.UserService',
  package: 'im.user.v1',
  protoFile: 'im/user/v1/user.proto',
  nonIdempotent: ['Register', 'ChangePassword', 'DeleteUser'],
  messages,
  definition: UserServiceService,
};

export type UserServicePromiseClient = PromiseClient<typeof UserServiceService>;

export function createUserServiceClient(
  address: string,
  options?: ClientOptions,
): UserServicePromiseClient {
  return createClient(userService, address, options);
}
