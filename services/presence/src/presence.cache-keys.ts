/**
 * Redis keys and channel of the presence service.
 *
 * Users are spread over BUCKETS buckets by a hash of their id, and every key of a user carries
 * its bucket's hash tag `{b<n>}`. So one user's keys share a cluster slot (each rpc is one
 * atomic script), and so does the bucket's expiry index: a script can change a user's devices
 * and the index together, which a per-user tag could not do in Redis Cluster (cross-slot).
 *
 * Changing BUCKETS moves users to other keys: their live devices (at most 10 minutes old) and
 * last_seen_at would be lost, so treat it as fixed once deployed.
 */
export const BUCKETS = 64;

// The suffixes are shared with the Lua scripts, which build a user's keys from the bucket prefix.
export const DUE = 'due';
export const DEVICES = 'devices:';
export const META = 'meta:';
export const USER = 'user:';

/** The bucket of a user: FNV-1a of the id, so every replica agrees without coordination. */
export function bucketOf(userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % BUCKETS;
}

export const bucketPrefix = (bucket: number) => `presence:{b${bucket}}:`;

/** ZSET user_id -> the earliest expiry (ms) of the user's devices: what the sweeper scans. */
export const dueKey = (bucket: number) => `${bucketPrefix(bucket)}${DUE}`;

/** ZSET device_id -> expiry (ms). */
export const devicesKey = (userId: string) =>
  `${bucketPrefix(bucketOf(userId))}${DEVICES}${userId}`;

/** HASH device_id -> "<platform>:<last heartbeat ms>". */
export const metaKey = (userId: string) => `${bucketPrefix(bucketOf(userId))}${META}${userId}`;

/** HASH seen -> last_seen_at (ms), ver -> version of the last announced change. */
export const userKey = (userId: string) => `${bucketPrefix(bucketOf(userId))}${USER}${userId}`;

/**
 * The pub/sub channel of status changes. ioredis does not prefix channels, so the deployment's
 * key prefix is added here (test runs sharing one Redis must not hear each other).
 */
export const eventsChannel = (keyPrefix: string) => `${keyPrefix}presence:events`;
