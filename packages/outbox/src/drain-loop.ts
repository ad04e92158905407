/** What one claim of a drain loop did. */
export interface DrainStep {
  claimed: number;
  delivered: number;
  /** Rows left waiting behind another replica's older row of their key. */
  waiting: number;
}

/**
 * How soon a loop runs again when rows wait behind another replica's row, or when a writer
 * asked for it: the older row is usually out within milliseconds.
 */
export const FOLLOW_UP_MS = 25;

/**
 * One drain loop on its own timer: claims and delivers due rows (through `step`) until none
 * are left, then sleeps for the interval, or FOLLOW_UP_MS when woken or when rows wait. An
 * outbox runs one loop per group of topics, so a handler stuck on a dead peer holds back only
 * its own group's claims.
 */
export class DrainLoop {
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private draining: Promise<unknown> | undefined;
  /** A wake-up came while a drain ran: run again right after it. */
  private followUp = false;
  private stopped = true;

  constructor(
    private readonly step: () => Promise<DrainStep>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.intervalMs);
  }

  /** Stops the timer and waits for a drain in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
  }

  /** Claims and delivers due rows until none are left; returns how many were delivered. */
  async drainOnce(): Promise<number> {
    let delivered = 0;
    for (;;) {
      const step = await this.step();
      if (step.waiting > 0) this.followUp = true;
      if (step.claimed === 0) return delivered;
      delivered += step.delivered;
      // Failed rows are rescheduled into the future, so this ends once nothing due is left.
      if (this.stopped) return delivered;
    }
  }

  /** Runs within FOLLOW_UP_MS instead of at the next interval. */
  wake(): void {
    if (this.stopped) return;
    if (this.draining) this.followUp = true;
    else if (this.timerDue - Date.now() > FOLLOW_UP_MS) this.schedule(FOLLOW_UP_MS);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timerDue = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.draining = this.drainOnce()
        .catch((err: unknown) => this.onError(err as Error))
        .finally(() => {
          this.draining = undefined;
          const again = this.followUp;
          this.followUp = false;
          this.schedule(again ? FOLLOW_UP_MS : this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
