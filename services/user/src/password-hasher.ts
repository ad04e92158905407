import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ResourceExhaustedError } from '@im-repo/errors';

const KEY_LENGTH = 32;
const R = 8;
const P = 1;

function derive(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export interface HashLimits {
  /** Hashes computed at once. */
  concurrency: number;
  /** Hashes waiting for a slot; past it a call is refused at once (OVERLOADED). */
  queueMax: number;
}

/**
 * At most `concurrency` tasks at once and `queueMax` waiting. scrypt runs on libuv's thread
 * pool (4 threads by default), which DNS lookups and file I/O share: a spray of logins must
 * neither take all of it nor queue without bound.
 */
class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limits: HashLimits) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.queueMax) {
        throw new ResourceExhaustedError(
          'OVERLOADED',
          'too many password checks are waiting; retry later',
        );
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so running never exceeds the limit.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * scrypt password hashes, self-describing (`scrypt$N$r$p$salt$hash`), so the cost can rise
 * later without breaking stored hashes. Runs on libuv's thread pool, off the event loop, at
 * most `limits.concurrency` at once.
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;
  private readonly gate: Gate;

  constructor(
    private readonly cost: number,
    limits: HashLimits = { concurrency: 2, queueMax: 64 },
  ) {
    this.gate = new Gate(limits);
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await this.gate.run(() => derive(password, salt, this.cost, R, P));
    return ['scrypt', this.cost, R, P, salt.toString('base64'), key.toString('base64')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const [scheme, n, r, p, salt, hash] = stored.split('$');
    if (scheme !== 'scrypt' || !salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const key = await this.gate.run(() =>
      derive(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p)),
    );
    return key.length === expected.length && timingSafeEqual(key, expected);
  }

  /**
   * Burns the same time as a real check, so an unknown username cannot be told from a wrong
   * password by latency.
   */
  async verifyNothing(password: string): Promise<false> {
    // A refused (overloaded) first hash must not stay cached as a rejection.
    this.dummy ??= this.hash('im-repo timing equalizer').catch((err: unknown) => {
      this.dummy = undefined;
      throw err;
    });
    await this.verify(password, await this.dummy);
    return false;
  }
}
