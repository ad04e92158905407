import type { ConversationServicePromiseClient } from '@im-repo/proto/conversation';
import type { Logger } from '@im-repo/server-kit';
import type { MessageMetrics } from './message.metrics';
import type { ConversationRecord, MessageRecord } from './message.types';
import type { OutboxKey, RecordOutboxRepository } from './record-outbox.repository';

export interface RecordOutboxOptions {
  /** How often the drainer looks for due rows. */
  intervalMs: number;
  /** How long one RecordMessages attempt may take (the peer deadline). */
  callTimeoutMs: number;
  logger: Logger;
  metrics: MessageMetrics;
}

const DRAIN_BATCH = 500;
const MAX_BACKOFF_MS = 5000;

const toRecord = (m: MessageRecord): ConversationRecord => ({
  conversationId: m.conversationId,
  conversationType: m.conversationType,
  senderId: m.senderId,
  recipientId: m.recipientId,
  seq: m.seq,
  sentAt: m.sentAt,
});

const keyOf = (r: { conversationId: string; seq: number }): OutboxKey => ({
  conversationId: r.conversationId,
  seq: r.seq,
});

/**
 * Delivers ConversationService.RecordMessages for every durable send, at least once. Each batch
 * is tried inline (so the sender's own list is up to date when SendMessage returns); its outbox
 * rows, written in the send's transaction, stay until the conversation service confirms, and a
 * drainer re-sends what is due, so neither an outage nor a restart loses a record. A batch whose
 * inline attempt failed is due for the drainer at once, and later batches skip the inline attempt
 * (sends do not wait on a dead peer) for a second, or until the drainer gets through again.
 */
export class RecordOutbox {
  private skipInlineUntil = 0;
  private delivered: OutboxKey[] = [];
  private removing: Promise<void> | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly client: ConversationServicePromiseClient,
    private readonly repo: RecordOutboxRepository,
    private readonly options: RecordOutboxOptions,
  ) {}

  /** The claim on rows under delivery: longer than one attempt, so replicas do not overlap. */
  get leaseMs(): number {
    return this.options.callTimeoutMs + this.options.intervalMs;
  }

  /** How long a new batch's rows wait for its inline attempt; 0 means there will be none. */
  outboxDelayMs(): number {
    return Date.now() < this.skipInlineUntil ? 0 : this.leaseMs;
  }

  /** One RecordMessages for the batch; never throws (the rows stay queued on failure). */
  async deliverInline(messages: MessageRecord[]): Promise<void> {
    const records = messages.map(toRecord);
    if (await this.send(records, 'inline')) {
      this.removeSoon(records.map(keyOf));
      return;
    }
    this.skipInlineUntil = Date.now() + Math.max(1000, 2 * this.options.intervalMs);
    await this.release(records.map(keyOf));
  }

  /**
   * Hands rows back after a failed call. Their lease only guarded the call, which is over;
   * without this a peer back a moment later would get them a whole deadline later. Each row
   * waits its own backoff, so a dead peer sees one retry per row per backoff, not per replica.
   */
  private async release(keys: OutboxKey[]): Promise<void> {
    await this.repo
      .release(keys, this.options.intervalMs, MAX_BACKOFF_MS)
      .catch((err: unknown) =>
        this.options.logger.warn('outbox reschedule failed', { error: (err as Error).message }),
      );
  }

  /**
   * Deletes delivered rows off the caller's path, many batches per statement. A row whose delete
   * is lost (crash) is only sent again, and RecordMessages is idempotent.
   */
  private removeSoon(keys: OutboxKey[]): void {
    this.delivered.push(...keys);
    this.removing ??= this.removeDelivered().finally(() => {
      this.removing = undefined;
    });
  }

  private async removeDelivered(): Promise<void> {
    while (this.delivered.length > 0) {
      const keys = this.delivered.splice(0, DRAIN_BATCH);
      await this.repo
        .remove(keys)
        .catch((err: unknown) =>
          this.options.logger.warn('outbox cleanup failed', { error: (err as Error).message }),
        );
    }
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
    await this.removing;
  }

  /** One pass over the due rows (tests call it to skip the wait). */
  async drainOnce(): Promise<void> {
    for (;;) {
      let keys: OutboxKey[];
      try {
        keys = await this.repo.claimDue(DRAIN_BATCH, this.leaseMs);
      } catch (err) {
        this.options.logger.warn('outbox claim failed', { error: (err as Error).message });
        this.failures++;
        return;
      }
      if (keys.length === 0) {
        this.failures = 0;
        return;
      }
      const records = await this.repo.records(keys).catch(() => null);
      if (!records || !(await this.send(records, 'outbox'))) {
        this.failures++;
        await this.release(keys);
        return;
      }
      this.failures = 0;
      this.skipInlineUntil = 0;
      await this.repo.remove(keys).catch(() => undefined);
      if (keys.length < DRAIN_BATCH || this.stopped) return;
    }
  }

  private schedule(delayMs: number) {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.draining = this.drainOnce().finally(() => {
        this.draining = undefined;
        const backoff = Math.min(MAX_BACKOFF_MS, this.options.intervalMs * 2 ** this.failures);
        this.schedule(this.failures > 0 ? backoff : this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async send(records: ConversationRecord[], path: 'inline' | 'outbox'): Promise<boolean> {
    if (records.length === 0) return true;
    try {
      await this.client.recordMessages({ records });
      this.options.metrics.records.inc({ path, result: 'ok' }, records.length);
      return true;
    } catch (err) {
      this.options.metrics.records.inc({ path, result: 'error' }, records.length);
      this.options.logger.warn('RecordMessages failed; the records stay in the outbox', {
        path,
        records: records.length,
        error: (err as Error).message,
      });
      return false;
    }
  }
}
