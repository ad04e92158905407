import type { Logger } from '@im-repo/server-kit';
import { groupConversationId } from '@im-repo/proto';
import type { ConversationServicePromiseClient } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { Counter, type Registry } from 'prom-client';
import type { OutboxEntry, ParticipantOutboxRepository } from './participant-outbox.repository';

/** AddParticipants user ids per call; a big join is split so no request grows unbounded. */
export const PARTICIPANTS_PER_CALL = 500;
const CLAIM_BATCH = 1000;
const MAX_BACKOFF_MS = 5000;

export interface ParticipantOutboxOptions {
  /** How often due rows are looked for. */
  intervalMs: number;
  /** The peer deadline: a claim outlives one call so no other replica retries it meanwhile. */
  callTimeoutMs: number;
  logger: Logger;
  registry?: Registry;
  now?: () => Date;
}

function deliveryCounter(registry: Registry | undefined): Counter<'result'> {
  const name = 'group_participant_deliveries_total';
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'result'>;
  return new Counter({
    name,
    help: 'AddParticipants calls to the conversation service by outcome (ok, failed)',
    labelNames: ['result'],
    registers: registry ? [registry] : [],
  });
}

/**
 * Tells the conversation service who joined a group, durably. Joins are queued in the
 * membership transaction (the repository's enqueue); right after the commit deliver() makes
 * the call and drops the rows on success. Rows whose call failed, or whose replica died before
 * calling, become due after a lease and are retried by the drainer of any replica with
 * backoff, until the conversation service accepts them (AddParticipants is idempotent).
 */
export class ParticipantOutbox {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly counter: Counter<'result'>;
  private readonly now: () => Date;

  constructor(
    private readonly repo: ParticipantOutboxRepository,
    private readonly client: ConversationServicePromiseClient,
    private readonly options: ParticipantOutboxOptions,
  ) {
    this.counter = deliveryCounter(options.registry);
    this.now = options.now ?? (() => new Date());
  }

  /**
   * When freshly queued rows become the drainer's: after the inline delivery of `users` joins
   * (one call per chunk) had its chance.
   */
  inlineLeaseEnd(now: Date, users: number): Date {
    const calls = Math.max(1, Math.ceil(users / PARTICIPANTS_PER_CALL));
    return new Date(now.getTime() + this.leaseMs(0) + (calls - 1) * this.options.callTimeoutMs);
  }

  /**
   * The inline delivery after a commit. Never throws: the rows stay queued on failure and the
   * drainer takes over, so the caller's rpc succeeds either way.
   */
  async deliver(groupId: string, userIds: string[]): Promise<boolean> {
    if (userIds.length === 0) return true;
    try {
      await this.call(groupId, userIds);
      await this.repo.deleteFor(groupId, userIds);
      return true;
    } catch (err) {
      this.options.logger.warn('conversation participants not delivered; queued for retry', {
        group_id: groupId,
        users: userIds.length,
        error: (err as Error).message,
      });
      return false;
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops the drainer and waits for a drain in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over the due rows (also what the timer runs). */
  async drainOnce(): Promise<void> {
    for (;;) {
      const claimed = await this.repo.claimDue(this.now(), CLAIM_BATCH, (attempts) =>
        this.leaseUntil(attempts),
      );
      if (claimed.length === 0) return;
      const byGroup = new Map<string, OutboxEntry[]>();
      for (const entry of claimed) {
        const list = byGroup.get(entry.groupId) ?? [];
        list.push(entry);
        byGroup.set(entry.groupId, list);
      }
      for (const [groupId, entries] of byGroup) {
        if (this.stopped) return;
        try {
          await this.call(groupId, [...new Set(entries.map((e) => e.userId))]);
          await this.repo.deleteByIds(entries.map((e) => e.id));
        } catch (err) {
          this.options.logger.warn('conversation participants retry failed', {
            group_id: groupId,
            users: entries.length,
            attempts: Math.max(...entries.map((e) => e.attempts)),
            error: (err as Error).message,
          });
        }
      }
      if (claimed.length < CLAIM_BATCH || this.stopped) return;
    }
  }

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.drainOnce()
        .catch((err: unknown) => {
          this.options.logger.warn('participant outbox drain failed', {
            error: (err as Error).message,
          });
        })
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async call(groupId: string, userIds: string[]): Promise<void> {
    for (let i = 0; i < userIds.length; i += PARTICIPANTS_PER_CALL) {
      try {
        await this.client.addParticipants({
          conversationId: groupConversationId(groupId),
          conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
          peerId: groupId,
          userIds: userIds.slice(i, i + PARTICIPANTS_PER_CALL),
        });
        this.counter.inc({ result: 'ok' });
      } catch (err) {
        this.counter.inc({ result: 'failed' });
        throw err;
      }
    }
  }

  /** Exponential backoff, never shorter than a call can take (the claim is a lease). */
  private leaseMs(attempts: number): number {
    const backoff = Math.min(250 * 2 ** attempts, MAX_BACKOFF_MS);
    return Math.max(backoff, this.options.callTimeoutMs + 500);
  }

  private leaseUntil(attempts: number): Date {
    return new Date(this.now().getTime() + this.leaseMs(attempts));
  }
}
