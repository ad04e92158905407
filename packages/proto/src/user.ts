import { UserServiceService } from './gen/im/user/v1/user';
import { createClient, type ClientOptions, type PromiseClient, type ServiceInfo } from './client';

export * from './gen/im/user/v1/user';

export const userService: ServiceInfo<typeof UserServiceService> = {
  name: 'im.user.v1.UserService',
  package: 'im.user.v1',
  protoFile: 'im/user/v1/user.proto',
  definition: UserServiceService,
};

export type UserServicePromiseClient = PromiseClient<typeof UserServiceService>;

export function createUserServiceClient(
  address: string,
  options?: ClientOptions,
): UserServicePromiseClient {
  return createClient(userService, address, options);
}
