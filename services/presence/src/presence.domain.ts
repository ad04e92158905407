import { ResourceExhaustedError } from '@im-repo/errors';
import type { PresenceRepository } from './presence.repository';
import type { HeartbeatInput, UserStatusRecord } from './presence.types';
import type { StatusHub } from './status-hub';
import { WatchSession, type WatchSink } from './watch-session';

export interface PresenceOptions {
  defaultTtlSeconds: number;
  /** Live devices one user may have; a status must stay a reasonable size. */
  maxDevices: number;
  /** WatchStatus streams this server holds at once (each costs memory and a fan-out slot). */
  maxWatchStreams: number;
}

const neverSeen = (userId: string): UserStatusRecord => ({
  userId,
  devices: [],
  lastSeenAt: null,
  version: 0,
});

/** The rules of presence: TTL defaults, device limits, ordered reads, live watches. */
export class PresenceDomain {
  constructor(
    private readonly repo: PresenceRepository,
    private readonly hub: StatusHub,
    private readonly options: PresenceOptions,
  ) {}

  async heartbeat(input: HeartbeatInput): Promise<UserStatusRecord> {
    const ttlSeconds = input.ttlSeconds || this.options.defaultTtlSeconds;
    const result = await this.repo.heartbeat(
      input.userId,
      input.deviceId,
      input.platform,
      ttlSeconds * 1000,
      this.options.maxDevices,
    );
    if (!result.ok) {
      throw new ResourceExhaustedError(
        'TOO_MANY_DEVICES',
        `a user may have at most ${this.options.maxDevices} online devices`,
        { user_id: input.userId },
      );
    }
    return result.status;
  }

  /** Without a device id, every device goes offline; an unknown device changes nothing. */
  setOffline(userId: string, deviceId: string | undefined): Promise<UserStatusRecord> {
    return this.repo.setOffline(userId, deviceId ?? '');
  }

  /** A deleted user (the user service's outbox): offline, no devices, no last_seen_at. */
  forgetUser(userId: string): Promise<void> {
    return this.repo.forget(userId);
  }

  async getStatus(userId: string): Promise<UserStatusRecord> {
    return (await this.repo.read([userId])).get(userId) ?? neverSeen(userId);
  }

  /** One status per requested position, in request order (duplicates answered in place). */
  async batchGetStatus(userIds: string[]): Promise<UserStatusRecord[]> {
    if (userIds.length === 0) return [];
    const found = await this.repo.read([...new Set(userIds)]);
    return userIds.map((id) => found.get(id) ?? neverSeen(id));
  }

  /**
   * Streams the current status of each user (request order, duplicates collapsed), then every
   * change, until `signal` aborts (resolves) or the change feed is lost (rejects UNAVAILABLE).
   * The session is registered before the first read so that no change falls between the two.
   */
  async watch(userIds: string[], sink: WatchSink, signal: AbortSignal): Promise<void> {
    const unique = [...new Set(userIds)];
    if (unique.length === 0 || signal.aborted) return;
    if (this.hub.sessionCount >= this.options.maxWatchStreams) {
      throw new ResourceExhaustedError(
        'TOO_MANY_STREAMS',
        `this server holds its maximum of ${this.options.maxWatchStreams} watch streams; retry later or elsewhere`,
        { max_watch_streams: String(this.options.maxWatchStreams) },
      );
    }
    const session = new WatchSession(sink);
    const unregister = this.hub.register(unique, session);
    const onAbort = () => session.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const current = await this.repo.read(unique);
      session.begin(unique.map((id) => current.get(id) ?? neverSeen(id)));
      await session.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
      unregister();
      session.end();
    }
  }
}
