/** One device of a user whose heartbeat has not expired. */
export interface DeviceRecord {
  deviceId: string;
  /** The im.presence.v1.Platform number (validated at the edge). */
  platform: number;
  lastHeartbeatAt: Date;
  expiresAt: Date;
}

/** A user's presence as the domain sees it; online is `devices.length > 0`. */
export interface UserStatusRecord {
  userId: string;
  /** Sorted by device id. */
  devices: DeviceRecord[];
  /** null if never seen. */
  lastSeenAt: Date | null;
  /**
   * Orders the announced changes of one user (0 = none yet). Grows with every change, even
   * across a Redis flush (it starts from Redis time in µs), so watchers drop stale or repeated
   * events by comparing it.
   */
  version: number;
}

export interface HeartbeatInput {
  userId: string;
  deviceId: string;
  platform: number;
  /** 0 means the configured default. */
  ttlSeconds: number;
}

export const isOnline = (status: UserStatusRecord) => status.devices.length > 0;
