import type { RedisClient } from '@im-repo/cache';
import { bucketOf, dueKey } from './presence.cache-keys';
import {
  heartbeatScript,
  readScript,
  setOfflineScript,
  forgetScript,
  sweepScript,
} from './presence.scripts';
import type { UserStatusRecord } from './presence.types';
import { decodeStatus } from './status-codec';

export type HeartbeatResult =
  | { ok: true; status: UserStatusRecord }
  | { ok: false; reason: 'too_many_devices'; status: UserStatusRecord };

export interface SweepResult {
  /** Users whose index entry was due. */
  due: number;
  /** Of those, users that lost at least one device (each announced once). */
  expired: number;
}

/**
 * Presence state in Redis, one atomic script per call. Returns plain records; knows nothing of
 * gRPC. Changes are published by the scripts on `channel`.
 */
export class PresenceRepository {
  private readonly clustered: boolean;

  constructor(
    private readonly redis: RedisClient,
    private readonly channel: string,
    /** How long a user's last_seen_at outlives their last device. */
    private readonly lastSeenTtlMs: number,
  ) {
    this.clustered = redis.isCluster;
  }

  async heartbeat(
    userId: string,
    deviceId: string,
    platform: number,
    ttlMs: number,
    maxDevices: number,
  ): Promise<HeartbeatResult> {
    const [outcome, text] = await heartbeatScript.run(
      this.redis,
      [dueKey(bucketOf(userId))],
      [userId, deviceId, platform, ttlMs, this.channel, maxDevices, this.lastSeenTtlMs],
    );
    const status = decodeStatus(text);
    return outcome === 'ok'
      ? { ok: true, status }
      : { ok: false, reason: 'too_many_devices', status };
  }

  /** deviceId '' removes every device. */
  async setOffline(userId: string, deviceId: string): Promise<UserStatusRecord> {
    const text = await setOfflineScript.run(
      this.redis,
      [dueKey(bucketOf(userId))],
      [userId, deviceId, this.channel, this.lastSeenTtlMs],
    );
    return decodeStatus(text);
  }

  /** A deleted user: offline everywhere, never seen, nothing kept (announced if it changed). */
  async forget(userId: string): Promise<void> {
    await forgetScript.run(
      this.redis,
      [dueKey(bucketOf(userId))],
      [userId, this.channel, this.lastSeenTtlMs],
    );
  }

  /**
   * The statuses of distinct users in one round trip: on a standalone Redis one script for all of
   * them; on Redis Cluster one script per bucket (a slot), all issued in the same tick, so the
   * auto-pipelining client sends them as one pipeline per node.
   */
  async read(userIds: string[]): Promise<Map<string, UserStatusRecord>> {
    const byBucket = new Map<number, string[]>();
    for (const id of userIds) {
      const bucket = bucketOf(id);
      const group = byBucket.get(bucket);
      if (group) group.push(id);
      else byBucket.set(bucket, [id]);
    }
    let replies: string[][];
    if (this.clustered) {
      replies = await Promise.all(
        [...byBucket].map(([bucket, ids]) =>
          readScript.run(
            this.redis,
            [dueKey(bucket)],
            ids.map((id) => `1:${id}`),
          ),
        ),
      );
    } else {
      const keys: string[] = [];
      const entries: string[] = [];
      for (const [bucket, ids] of byBucket) {
        keys.push(dueKey(bucket));
        for (const id of ids) entries.push(`${keys.length}:${id}`);
      }
      replies = [await readScript.run(this.redis, keys, entries)];
    }
    const found = new Map<string, UserStatusRecord>();
    for (const texts of replies) {
      for (const text of texts) {
        const status = decodeStatus(text);
        found.set(status.userId, status);
      }
    }
    return found;
  }

  /** Removes and announces the expired devices of up to `limit` due users of one bucket. */
  async sweep(bucket: number, limit: number): Promise<SweepResult> {
    const [due, expired] = await sweepScript.run(
      this.redis,
      [dueKey(bucket)],
      [limit, this.channel, this.lastSeenTtlMs],
    );
    return { due, expired };
  }
}
