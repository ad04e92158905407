import { type Config, type DeepPartial } from '@im-repo/config';
import { createUserServiceClient } from '@im-repo/proto/user';
import { createServeContext } from '@im-repo/server-kit';
import {
  createServiceSuite,
  startInProcess,
  withClient,
  type TestEnvironment,
} from '@im-repo/testing';
import { createServer, openUserDeps } from '../src/server';

export async function startUserService(env: TestEnvironment, overrides?: DeepPartial<Config>) {
  const config = env.config('user', overrides);
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openUserDeps(ctx), createServer);
  return { ...withClient(running, createUserServiceClient), ctx };
}

export type UserService = Awaited<ReturnType<typeof startUserService>>;

/**
 * A suite's database and user services, stopped by an after hook of the calling `describe`.
 * The user service's peers are addresses in its config, so there are no stand-ins to start.
 */
export function useUserSuite(label = 'user') {
  const suite = createServiceSuite({
    label,
    startPeers: async () => undefined,
    startService: (env, _peers, overrides?: DeepPartial<Config>) =>
      startUserService(env, overrides),
  });
  after(() => suite.stop());
  return suite;
}

let counter = 0;
/** A username unique within the run. */
export const uniqueName = (prefix = 'u') =>
  `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
