import { type Config, type DeepPartial } from '@im-repo/config';
import { createUserServiceClient } from '@im-repo/proto/user';
import { createServeContext } from '@im-repo/server-kit';
import { startInProcess, withClient, type TestEnvironment } from '@im-repo/testing';
import { createServer, openUserDeps } from '../src/server';

export async function startUserService(env: TestEnvironment, overrides?: DeepPartial<Config>) {
  const config = env.config('user', overrides);
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openUserDeps(ctx), createServer);
  return { ...withClient(running, createUserServiceClient), ctx };
}

let counter = 0;
/** A username unique within the run. */
export const uniqueName = (prefix = 'u') =>
  `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
