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
  /** Told when Redis fails; the throttle then lets the attempt through. */
  onRedisError: (err: unknown) => void;
}

/**
 * The login failure limit: at most maxFailures failed attempts per username per window, counted
 * in Redis whether or not the user exists. If Redis is down the limit is not enforced (logins
 * keep working); the failure is logged and counted so operators see it.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: ThrottleOptions,
  ) {}

  /** Records an attempt; false when the username is locked out. */
  async begin(username: string): Promise<boolean> {
    try {
      const n = await ATTEMPT.run(
        this.redis,
        [loginFailuresKey(username)],
        [this.options.maxFailures, this.options.windowSeconds * 1000],
      );
      return n !== -1;
    } catch (err) {
      this.options.onRedisError(err);
      return true;
    }
  }

  /** A successful attempt resets the count. */
  async succeeded(username: string): Promise<void> {
    try {
      await this.redis.del(loginFailuresKey(username));
    } catch (err) {
      this.options.onRedisError(err);
    }
  }
}
