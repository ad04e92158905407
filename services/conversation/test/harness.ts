import { type Config, type DeepPartial } from '@im-repo/config';
import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createServeContext } from '@im-repo/server-kit';
import {
  createTestEnvironment,
  startInProcess,
  withClient,
  type TestEnvironment,
} from '@im-repo/testing';
import { createServer, openConversationDeps } from '../src/server';
import { MessageStandIn } from './message-stand-in';

export async function startConversationService(
  env: TestEnvironment,
  messageAddress: string,
  overrides: DeepPartial<Config> = {},
) {
  const config = env.config('conversation', {
    ...overrides,
    // Generous: suites share two cores in CI; deadline tests set their own.
    peers: { message: messageAddress, timeout_ms: 5000, ...overrides.peers },
  });
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openConversationDeps(ctx), createServer);
  return { ...withClient(running, createConversationServiceClient), ctx };
}

export type ConversationService = Awaited<ReturnType<typeof startConversationService>>;

/** A fresh database and Redis prefix, the message service stand-in, and the service under test. */
export async function startStack(label: string) {
  const env = await createTestEnvironment(label);
  const messages = await MessageStandIn.start();
  const svc = await startConversationService(env, messages.address);
  return {
    env,
    messages,
    svc,
    client: svc.client,
    async teardown() {
      await svc.stop();
      await messages.stop();
      await env.teardown();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

let counter = 0;
/** An id unique within the run (ids are [A-Za-z0-9-]). */
export const uid = (prefix = 'u') =>
  `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}`;
