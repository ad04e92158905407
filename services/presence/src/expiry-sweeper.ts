import type { Logger } from '@im-repo/server-kit';
import { Counter, type Registry } from 'prom-client';
import { BUCKETS } from './presence.cache-keys';
import type { PresenceRepository } from './presence.repository';

/** Due users handled per script call: keeps each script short so Redis never stalls on one. */
const SWEEP_BATCH = 200;

/**
 * Finds expired devices even when nobody reads: every interval, each replica runs the sweep
 * script on every bucket (all at once: one pipeline per Redis node). The script removes and
 * announces atomically, so with any number of replicas each expiry is announced exactly once,
 * and no replica's failure loses one while another runs.
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failing = false;
  private readonly expired: Counter;

  constructor(
    private readonly repo: PresenceRepository,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    const name = 'presence_sweep_expired_users_total';
    this.expired =
      (registry.getSingleMetric(name) as Counter | undefined) ??
      new Counter({
        name,
        help: 'Users that lost devices to TTL expiry, announced by this replica',
        registers: [registry],
      });
  }

  start(): void {
    this.schedule();
  }

  /** Stops the loop and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every bucket; resolves with the number of users that lost devices. */
  async sweepOnce(): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: BUCKETS }, (_, bucket) => this.sweepBucket(bucket)),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    this.expired.inc(total);
    return total;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweepOnce()
        .then(
          () => {
            if (this.failing) this.logger.info('expiry sweep recovered');
            this.failing = false;
          },
          (err: unknown) => {
            // Once per outage: Redis down makes every pass fail until it is back.
            if (!this.failing) {
              this.logger.warn('expiry sweep failed', { error: (err as Error).message });
            }
            this.failing = true;
          },
        )
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async sweepBucket(bucket: number): Promise<number> {
    let expired = 0;
    for (;;) {
      const result = await this.repo.sweep(bucket, SWEEP_BATCH);
      expired += result.expired;
      if (result.due < SWEEP_BATCH || this.stopped) return expired;
    }
  }
}
