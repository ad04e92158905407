import { isDbUnavailable } from '@im-repo/db';
import { ResourceExhaustedError, UnavailableError } from '@im-repo/errors';
import type { Enqueued } from '@im-repo/outbox';
import type { Logger } from '@im-repo/server-kit';
import { DUPLICATE_RACE, type CommitOptions, type CommitOutcome } from './message.repository';
import type { MessageMetrics } from './message.metrics';
import { sendKey, type MessageRecord, type SendInput, type SendResult } from './message.types';

export interface BatcherOptions {
  /** Most sends in one transaction. */
  maxSize: number;
  /** Longest the first send of a batch waits for company. */
  maxWaitMs: number;
  /** Most content bytes in one batch (the multi-row INSERT must fit max_allowed_packet). */
  maxBytes: number;
  /** Batches committing at once. */
  maxInflight: number;
  /**
   * Sends waiting for a batch slot. Past it a send is refused at once (OVERLOADED): when MySQL
   * stalls, waiting callers and their content must not pile up in memory without bound.
   * Defaults to SEND_QUEUE_MAX's default.
   */
  maxQueued?: number;
}

export interface BatcherDeps {
  commit(
    inputs: SendInput[],
    options: Pick<CommitOptions, 'newId'>,
  ): Promise<CommitOutcome | typeof DUPLICATE_RACE>;
  newId: () => string;
  /** After commit, before the callers hear back (the commits' outbox rows); never throws. */
  afterCommit(inserted: MessageRecord[], enqueued: Enqueued[]): Promise<void>;
  metrics: MessageMetrics;
  logger: Logger;
}

interface Pending {
  input: SendInput;
  resolve(result: SendResult): void;
  reject(err: unknown): void;
}

type Outcome = { ok: SendResult } | { error: unknown };

// A competing replica can only win a key once per batch attempt, so this is plenty.
const MAX_REDOS = 8;

/**
 * Group commit: every send waiting at the moment (up to maxSize / maxBytes, or maxWaitMs after
 * the first) shares one transaction and one fsync, so throughput is not one commit per send.
 */
export class SendBatcher {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly deps: BatcherDeps,
    private readonly options: BatcherOptions,
  ) {}

  submit(input: SendInput): Promise<SendResult> {
    if (this.closed) {
      return Promise.reject(new UnavailableError('SHUTTING_DOWN', 'the service is shutting down'));
    }
    if (this.queue.length >= (this.options.maxQueued ?? 10_000)) {
      return Promise.reject(
        new ResourceExhaustedError('OVERLOADED', 'too many sends are waiting; retry later', {
          queued: String(this.queue.length),
        }),
      );
    }
    return new Promise<SendResult>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.queuedBytes += input.content.length;
      if (this.queue.length >= this.options.maxSize || this.queuedBytes >= this.options.maxBytes) {
        this.flush();
      } else {
        this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
      }
    });
  }

  /** Commits what is queued and waits for every batch in flight. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    while (this.running.size > 0 || this.queue.length > 0) {
      await Promise.all([...this.running]);
      this.flush();
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inflight < this.options.maxInflight && this.queue.length > 0) {
      const batch = this.take();
      this.inflight++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.inflight--;
        // Sends that queued up behind a busy commit have waited long enough.
        if (this.queue.length > 0) this.flush();
      };
      const run: Promise<void> = this.run(batch, release)
        .catch((err: unknown) => {
          // Settling twice is a no-op, so this only reaches callers nobody answered yet.
          for (const p of batch) p.reject(err);
        })
        .finally(() => {
          release();
          this.running.delete(run);
        });
      this.running.add(run);
    }
  }

  private take(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.options.maxSize) {
      const size = this.queue[n]!.input.content.length;
      if (n > 0 && bytes + size > this.options.maxBytes) break;
      bytes += size;
      n++;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, n);
  }

  private async run(batch: Pending[], releaseSlot: () => void): Promise<void> {
    this.deps.metrics.batchSize.observe(batch.length);
    // Copies of one (sender_id, client_msg_id) in the batch follow the first one's outcome.
    const leaders = new Map<string, Pending>();
    const followers: [Pending, string][] = [];
    for (const p of batch) {
      const key = sendKey(p.input.senderId, p.input.clientMsgId);
      if (leaders.has(key)) followers.push([p, key]);
      else leaders.set(key, p);
    }

    const outcomes = new Map<string, Outcome>();
    const inserted: MessageRecord[] = [];
    const enqueued: Enqueued[] = [];
    const unique = [...leaders.values()].map((p) => p.input);
    try {
      this.collect(await this.commitSettled(unique), outcomes, inserted, enqueued);
    } catch (err) {
      if (unique.length === 1 || isDbUnavailable(err)) {
        for (const key of leaders.keys()) outcomes.set(key, { error: err });
      } else {
        this.deps.logger.warn('send batch failed, committing its sends one by one', {
          size: unique.length,
          error: (err as Error).message,
        });
        // In arrival order, so seqs still follow it; a bad send now fails alone.
        for (const input of unique) {
          const key = sendKey(input.senderId, input.clientMsgId);
          try {
            this.collect(await this.commitSettled([input]), outcomes, inserted, enqueued);
          } catch (single) {
            outcomes.set(key, { error: single });
          }
        }
      }
    }
    releaseSlot();

    if (inserted.length > 0) await this.deps.afterCommit(inserted, enqueued);

    let duplicates = 0;
    const missing: Outcome = { error: new Error('a send of the batch got no outcome') };
    for (const [key, p] of leaders) {
      const outcome = outcomes.get(key) ?? missing;
      if ('ok' in outcome) {
        if (outcome.ok.duplicate) duplicates++;
        p.resolve(outcome.ok);
      } else p.reject(outcome.error);
    }
    for (const [p, key] of followers) {
      const outcome = outcomes.get(key) ?? missing;
      if ('ok' in outcome) {
        duplicates++;
        p.resolve({ message: outcome.ok.message, duplicate: true });
      } else p.reject(outcome.error);
    }
    if (duplicates > 0) this.deps.metrics.duplicates.inc(duplicates);
  }

  /** Commits, redoing the batch when another replica won one of its keys in the meantime. */
  private async commitSettled(inputs: SendInput[]): Promise<CommitOutcome> {
    for (let attempt = 0; attempt < MAX_REDOS; attempt++) {
      const result = await this.deps.commit(inputs, { newId: this.deps.newId });
      if (result !== DUPLICATE_RACE) {
        if (result.inserted.length > 0) {
          this.deps.metrics.seqAllocation.observe(result.reserveSeconds);
        }
        return result;
      }
    }
    throw new UnavailableError('SEND_CONTENTION', 'the send kept racing with a duplicate, retry');
  }

  private collect(
    result: CommitOutcome,
    outcomes: Map<string, Outcome>,
    inserted: MessageRecord[],
    enqueued: Enqueued[],
  ) {
    enqueued.push(result.enqueued);
    for (const [key, message] of result.existing) {
      outcomes.set(key, { ok: { message, duplicate: true } });
    }
    for (const message of result.inserted) {
      outcomes.set(sendKey(message.senderId, message.clientMsgId), {
        ok: { message, duplicate: false },
      });
      inserted.push(message);
    }
  }
}
