import { redisScript, type RedisClient } from '@im-repo/cache';
import { loginFailuresKey } from './user.cache-keys';

// Counts the attempt before the password is checked, so concurrent guesses cannot all slip
// under the limit; a success clears the count. -1 means blocked.
const ATTEMPT = redisScript<number>(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`);

export interface ThrottleOptions {
  maxFailures: number;
  windowSeconds: number;
  /** Told when Redis fails; the throttle then counts in this replica's memory. */
  onRedisError: (err: unknown) => void;
  /** Most usernames counted in memory at once (bounded memory under a spray of names). */
  memoryCapacity?: number;
}

/**
 * The login failure limit: at most maxFailures failed attempts per username per window, counted
 * in Redis whether or not the user exists. While Redis is down each replica counts in its own
 * memory, so the limit still holds (at most limit x replicas); it never fails open.
 */
export class LoginThrottle {
  private readonly memory: MemoryCounter;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: ThrottleOptions,
  ) {
    this.memory = new MemoryCounter(options.memoryCapacity ?? 100_000);
  }

  /** Records an attempt; false when the username is locked out. */
  async begin(username: string): Promise<boolean> {
    const key = loginFailuresKey(username);
    const windowMs = this.options.windowSeconds * 1000;
    try {
      const n = await ATTEMPT.run(this.redis, [key], [this.options.maxFailures, windowMs]);
      return n !== -1;
    } catch (err) {
      this.options.onRedisError(err);
      return this.memory.attempt(key, this.options.maxFailures, windowMs);
    }
  }

  /** A successful attempt resets the count. */
  async succeeded(username: string): Promise<void> {
    const key = loginFailuresKey(username);
    this.memory.reset(key);
    try {
      await this.redis.del(key);
    } catch (err) {
      this.options.onRedisError(err);
    }
  }
}

/** The same rule as the ATTEMPT script, per replica, for while Redis is down. */
class MemoryCounter {
  private readonly counts = new Map<string, { n: number; until: number }>();

  constructor(private readonly capacity: number) {}

  attempt(key: string, max: number, windowMs: number): boolean {
    const now = Date.now();
    let entry = this.counts.get(key);
    if (entry && entry.until <= now) {
      this.counts.delete(key);
      entry = undefined;
    }
    if (entry && entry.n >= max) return false;
    if (entry) entry.n++;
    else {
      this.evict(now);
      this.counts.set(key, { n: 1, until: now + windowMs });
    }
    return true;
  }

  reset(key: string): void {
    this.counts.delete(key);
  }

  /** Entries are in insertion order, so the oldest windows come first. */
  private evict(now: number) {
    for (const [key, entry] of this.counts) {
      if (entry.until > now && this.counts.size < this.capacity) break;
      this.counts.delete(key);
    }
  }
}
