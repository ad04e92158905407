import { type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { type Config, type DeepPartial } from '@im-repo/config';
import { createPresenceServiceClient, Platform, type UserStatus } from '@im-repo/proto/presence';
import type { ClientOptions } from '@im-repo/proto';
import { createServeContext } from '@im-repo/server-kit';
import {
  createServiceSuite,
  startInProcess,
  withClient,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { createServer, openPresenceDeps } from '../src/server';

export async function startPresenceService(
  env: TestEnvironment,
  overrides?: DeepPartial<Config>,
  clientOptions?: ClientOptions,
) {
  const config = env.config('presence', overrides);
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openPresenceDeps(ctx), createServer);
  return {
    ...withClient(running, (address, options) =>
      createPresenceServiceClient(address, { ...options, ...clientOptions }),
    ),
    ctx,
  };
}

export type PresenceService = Awaited<ReturnType<typeof startPresenceService>>;

/**
 * A suite's Redis key prefix (no MySQL: presence has none) and presence services, stopped by an
 * after hook of the calling `describe`. Presence has no peers.
 */
export function usePresenceSuite(label = 'presence') {
  const suite = createServiceSuite({
    label,
    environment: { mysql: false },
    startPeers: async () => undefined,
    startService: (env, _peers, overrides?: DeepPartial<Config>) =>
      startPresenceService(env, overrides),
  });
  after(() => suite.stop());
  return suite;
}

let counter = 0;
/** A user id unique within the run. */
export const uniqueId = (prefix = 'u') =>
  `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export const heartbeat = (
  svc: PresenceService,
  userId: string,
  deviceId = 'phone',
  platform = Platform.PLATFORM_IOS,
  ttlSeconds = 60,
) => svc.client.heartbeat({ userId, deviceId, platform, ttlSeconds });

/** A WatchStatus stream whose messages, end and error are collected for assertions. */
export function watch(svc: PresenceService, userIds: string[]) {
  const stream = svc.client.watchStatus({ userIds });
  const state = {
    events: [] as UserStatus[],
    error: undefined as ServiceError | undefined,
    status: undefined as StatusObject | undefined,
    ended: false,
  };
  stream.on('data', (res: { status?: UserStatus }) => state.events.push(res.status!));
  stream.on('error', (err: ServiceError) => (state.error = err));
  stream.on('status', (s: StatusObject) => (state.status = s));
  stream.on('end', () => (state.ended = true));
  return {
    stream,
    get events() {
      return state.events;
    },
    get error() {
      return state.error;
    },
    get status() {
      return state.status;
    },
    get ended() {
      return state.ended;
    },
    /** Waits until at least n messages arrived. */
    async count(n: number, timeoutMs = 5000) {
      await waitFor(() => state.events.length >= n, { timeoutMs, what: `${n} watch messages` });
      return state.events;
    },
    /** Waits for a message (after the first `from`) that matches. */
    async next(match: (s: UserStatus) => boolean, what: string, from = 0, timeoutMs = 5000) {
      return waitFor(() => state.events.slice(from).find(match), { timeoutMs, what });
    },
    /** Waits until the stream closed (grpc status received). */
    async closed(timeoutMs = 5000) {
      await waitFor(() => state.status, { timeoutMs, what: 'the stream to close' });
      return state.status!;
    },
    cancel() {
      stream.cancel();
    },
  };
}
