import type { Logger } from '@im-repo/server-kit';
import { Counter, type Registry } from 'prom-client';
import type { HeadCache } from './head-cache';
import type { ExpiredRange, HistoryRepository } from './history.repository';
import type { MessageRepository } from './message.repository';

export interface RetentionOptions {
  /** MESSAGE_RETENTION_SECONDS; 0 keeps messages forever (the job never runs). */
  retentionSeconds: number;
  /** Pause between passes. */
  intervalMs: number;
  /** Most seqs one transaction expires (over up to 50 conversations). */
  batchSize: number;
  /** Most past-the-window rows one pass looks at before it looks again. */
  scanSize: number;
  /**
   * Pause after each batch: a backlog (retention just turned on, or lowered) is worked off at a
   * pace that leaves MySQL's I/O to the sends.
   */
  pauseMs: number;
  logger: Logger;
  registry?: Registry;
}

/** Conversations one retention transaction claims at most. */
const CLAIM_PER_BATCH = 50;

export const RETENTION_DEFAULTS = { intervalMs: 1000, batchSize: 200, scanSize: 2000, pauseMs: 20 };

/**
 * Takes messages past MESSAGE_RETENTION_SECONDS out of reads: every replica runs it; each
 * conversation's expiry watermark row is claimed with SKIP LOCKED, so replicas share the work
 * and never expire one conversation at once. Each transaction expires a few hundred seqs of one
 * conversation (old rows only), so sends never wait on it. A replica killed mid-batch leaves
 * that transaction rolled back and the watermark where it was: the next pass (on any replica)
 * carries on from there.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<number> | undefined;
  private stopped = false;
  /** The database clock minus ours, as last read (sent_at is on the database clock). */
  private clockOffsetMs = 0;
  private readonly expired: Counter;

  constructor(
    private readonly history: HistoryRepository,
    private readonly messages: MessageRepository,
    private readonly heads: HeadCache,
    private readonly options: RetentionOptions,
  ) {
    const name = 'message_expired_total';
    this.expired =
      (options.registry?.getSingleMetric(name) as Counter | undefined) ??
      new Counter({
        name,
        help: 'Messages expired by the retention job (content erased, seq kept)',
        registers: options.registry ? [options.registry] : [],
      });
  }

  get enabled(): boolean {
    return this.options.retentionSeconds > 0;
  }

  /**
   * Messages sent before this time are past the window (on the database clock, as this replica
   * last read it); undefined when retention is off. Reads use it to hide a head the job has not
   * reached yet.
   */
  cutoff(): Date | undefined {
    if (!this.enabled) return undefined;
    return new Date(Date.now() + this.clockOffsetMs - this.options.retentionSeconds * 1000);
  }

  start(): void {
    if (!this.enabled || this.stopped) return;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pass?.catch(() => undefined);
  }

  /** One pass: expires everything past the window it can claim. Returns the seqs it expired. */
  runOnce(): Promise<number> {
    if (!this.enabled) return Promise.resolve(0);
    this.pass ??= this.expireAll().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((err: unknown) =>
          this.options.logger.warn('retention pass failed; retried next interval', {
            error: (err as Error).message,
          }),
        )
        .finally(() => {
          if (!this.stopped) this.schedule(this.options.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async expireAll(): Promise<number> {
    const { retentionSeconds, batchSize, scanSize, pauseMs } = this.options;
    let total = 0;
    while (!this.stopped) {
      const { candidates, now } = await this.history.expiryCandidates(retentionSeconds, scanSize);
      this.clockOffsetMs = now.getTime() - Date.now();
      let progressed = false;
      let pending = candidates;
      while (pending.length > 0 && !this.stopped) {
        // A few conversations per transaction: each batch claims only what it can work on.
        const { ranges, skipped } = await this.history.expireBatch(
          pending.slice(0, CLAIM_PER_BATCH),
          batchSize,
        );
        const reached = new Map(ranges.map((r) => [r.conversationId, r.toSeq]));
        const dropped = new Set(skipped);
        pending = pending.filter(
          (c) => !dropped.has(c.conversationId) && (reached.get(c.conversationId) ?? 0) < c.upToSeq,
        );
        if (ranges.length === 0) continue;
        progressed = true;
        const count = ranges.reduce((n, r) => n + r.toSeq - r.fromSeq, 0);
        total += count;
        this.expired.inc(count);
        await Promise.all(ranges.map((r) => this.advanceHead(r)));
        // A full batch is followed by a pause in proportion, so a backlog leaves I/O to sends.
        const pause = (pauseMs * count) / batchSize;
        if (pause >= 1) await new Promise((r) => setTimeout(r, pause));
      }
      // Nothing claimable (other replicas hold it, or nothing is past the window): next pass.
      if (!progressed) break;
    }
    return total;
  }

  /**
   * A cached head at or below the range shows a message that just expired: moving it to the
   * range's last seq, EXPIRED, is a forward step for the cache (status EXPIRED is the highest),
   * and a head above the range is left alone.
   */
  private async advanceHead(range: ExpiredRange): Promise<void> {
    const last = await this.messages.findMessage(range.conversationId, range.toSeq);
    if (last) await this.heads.advance([last]);
  }
}
