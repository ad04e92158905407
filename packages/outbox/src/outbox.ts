import { select, type Sequelize, type Transaction } from '@im-repo/db';
import type { Registry } from 'prom-client';
import { DrainLoop, FOLLOW_UP_MS, type DrainStep } from './drain-loop';
import { dropOutboxMetrics, outboxMetrics, type DeliveryCounter } from './outbox.metrics';
import { byKey, keyId, OutboxStore } from './outbox.store';
import type {
  DeliveryContext,
  Enqueued,
  NewOutboxRow,
  OutboxHandler,
  OutboxLogger,
  OutboxRow,
  TopicOptions,
} from './outbox.types';

export interface OutboxOptions {
  db: Sequelize;
  /** The service's own outbox table (created by outboxTableMigration). */
  table: string;
  /**
   * How long rows under delivery stay claimed (inline or by the drainer): longer than the
   * slowest handler call, so no other replica delivers them meanwhile.
   */
  leaseMs: number;
  /** How often the drainer looks for due rows. */
  intervalMs: number;
  /** First retry delay after a failure (default intervalMs); doubles per attempt. */
  backoffBaseMs?: number;
  /** Longest retry delay (default 5000). */
  backoffMaxMs?: number;
  /** Most rows per claim (default 500). */
  batchSize?: number;
  logger?: OutboxLogger;
  /** Where the gauges and the delivery counter are registered (the service's /metrics). */
  registry?: Registry;
}

interface Topic {
  handler: OutboxHandler;
  inline: boolean;
  ordered: boolean;
  drainSoon: boolean;
  /** Process clock: local pacing of the inline attempts only, never stored. */
  skipInlineUntil: number;
}

export interface EnqueueOptions {
  /** The inline delivery's lease for these rows (default: the outbox's leaseMs). */
  leaseMs?: number;
  /**
   * Hold these rows for the inline delivery even while their topic skips it after a failure:
   * for a caller whose answer depends on the attempt being made now (DeleteUser's sends
   * check). The topic must be inline.
   */
  alwaysInline?: boolean;
}

const NOTHING: Enqueued = { rows: [], inline: [] };
const quiet: OutboxLogger = { warn: () => undefined };

/** The database's clock now, in the caller's transaction (e.g. an event's commit time). */
export async function databaseNow(db: Sequelize, t?: Transaction): Promise<Date> {
  const [row] = await select<{ now: Date }>(db, 'SELECT UTC_TIMESTAMP(6) AS now', [], t);
  return row!.now;
}

/**
 * One service's transactional outbox, and the only owner of its table. Writers enqueue rows in
 * their own transaction; right after the commit deliver() hands them to their topic's handler
 * (read-your-writes while the peer is up), and a drainer on every replica retries what failed
 * or was left by a crash. One policy for every topic: the database clock, a lease on rows under
 * delivery, per-row exponential backoff stored in the row, per-key order across replicas,
 * claims that skip each other's rows, and no statement that takes gap locks.
 */
export class Outbox {
  private readonly store: OutboxStore;
  private readonly topics = new Map<string, Topic>();
  private readonly counter: DeliveryCounter;
  private readonly logger: OutboxLogger;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly batchSize: number;
  /** The inline delivery in progress per key, so a key's next batch goes after it. */
  private readonly tails = new Map<string, Promise<void>>();
  /** Delivered rows whose delete has not run yet (they block nothing of ours). */
  private readonly delivered = new Set<number>();
  private toRemove: number[] = [];
  private removing: Promise<void> | undefined;
  /** The drain loop of each topic, built once the topics are registered. */
  private loops: Map<string, DrainLoop> | undefined;

  constructor(private readonly options: OutboxOptions) {
    this.store = new OutboxStore(options.db, options.table);
    this.counter = outboxMetrics(options.registry, this.store);
    this.logger = options.logger ?? quiet;
    this.baseMs = options.backoffBaseMs ?? options.intervalMs;
    this.maxMs = options.backoffMaxMs ?? 5000;
    this.batchSize = options.batchSize ?? 500;
  }

  get table(): string {
    return this.options.table;
  }

  /** Who delivers a topic's rows. Register every topic before start() and enqueue(). */
  register(topic: string, handler: OutboxHandler, options: TopicOptions = {}): void {
    if (this.topics.has(topic)) throw new Error(`outbox topic ${topic} is registered twice`);
    if (this.loops) throw new Error(`outbox topic ${topic} is registered after the drainer ran`);
    const drainSoon = options.drainSoon ?? false;
    this.topics.set(topic, {
      handler,
      inline: !drainSoon && (options.inline ?? true),
      ordered: options.ordered ?? true,
      drainSoon,
      skipInlineUntil: 0,
    });
  }

  /**
   * Writes rows in the caller's transaction (one multi-row INSERT). Rows held for the inline
   * delivery are leased for leaseMs; a topic whose delivery failed lately skips it for a while
   * (writes its rows due at once), so writers do not wait on a dead peer.
   */
  async enqueue(
    t: Transaction,
    rows: NewOutboxRow[],
    options: EnqueueOptions = {},
  ): Promise<Enqueued> {
    if (rows.length === 0) return NOTHING;
    const now = Date.now();
    const inline = rows.map((r) => {
      const topic = this.topics.get(r.topic);
      if (!topic) throw new Error(`outbox topic ${r.topic} has no handler`);
      return topic.inline && (options.alwaysInline === true || now >= topic.skipInlineUntil);
    });
    const ids = await this.store.insert(
      t,
      rows,
      inline.map((held) => (held ? (options.leaseMs ?? this.options.leaseMs) : 0)),
    );
    return {
      rows: rows.map((r, i) => ({
        id: ids[i]!,
        topic: r.topic,
        key: r.key,
        payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
        attempts: 0,
      })),
      inline,
    };
  }

  /**
   * The inline delivery, after the enqueuing transaction(s) committed. Never throws: whatever is
   * not delivered stays in the table for the drainer. A key's rows go only when no older row of
   * the key is left: after this process's own earlier batch of the key (it waits for it), and
   * never past another replica's (those rows are left due for the drainer, which keeps order).
   */
  async deliver(...batches: Enqueued[]): Promise<void> {
    const soon = batches.flatMap((b) => b.rows.filter((r) => this.topics.get(r.topic)?.drainSoon));
    if (soon.length > 0) this.wake(soon);
    // Several enqueues (of one caller's commits) go as one batch: one handler call per topic.
    const rows = batches.flatMap((b) => b.rows.filter((_, i) => b.inline[i]));
    if (rows.length === 0) return;
    const keys = [...byKey(rows).keys()];
    const before = keys.map((k) => this.tails.get(k)).filter((p) => p !== undefined);
    let done!: () => void;
    const tail = new Promise<void>((resolve) => (done = resolve));
    for (const k of keys) this.tails.set(k, tail);
    try {
      await Promise.all(before);
      await this.deliverInline(rows);
    } catch (err) {
      this.logger.warn('outbox inline delivery failed; the drainer takes over', {
        table: this.table,
        rows: rows.length,
        error: (err as Error).message,
      });
    } finally {
      done();
      for (const k of keys) if (this.tails.get(k) === tail) this.tails.delete(k);
    }
  }

  private async deliverInline(rows: OutboxRow[]): Promise<void> {
    // Only ordered topics wait for older rows of their key; the others go at once, so another
    // replica's pending rows never delay them (read-your-writes across replicas).
    const ordered = rows.filter((r) => this.topics.get(r.topic)?.ordered !== false);
    const blocked =
      ordered.length > 0
        ? await this.store.keysWithOlderRows(ordered, this.delivered)
        : new Set<string>();
    const ready = rows.filter((r) => !blocked.has(keyId(r)));
    const waiting = rows.filter((r) => blocked.has(keyId(r)));
    if (waiting.length > 0) {
      this.count(waiting, 'inline', 'waiting');
      await this.store.makeDue(waiting.map((r) => r.id));
      this.wake(waiting);
    }
    await this.handle(ready, 'inline');
  }

  /**
   * Calls the handlers, the topics side by side (order is per topic and key); removes what they
   * delivered and reschedules the rest.
   */
  private async handle(rows: OutboxRow[], path: DeliveryContext['path']): Promise<number> {
    const topics = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const list = topics.get(row.topic);
      if (list) list.push(row);
      else topics.set(row.topic, [row]);
    }
    const counts = await Promise.all(
      [...topics].map(([name, list]) => this.handleTopic(name, list, path)),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  private async handleTopic(
    name: string,
    list: OutboxRow[],
    path: DeliveryContext['path'],
  ): Promise<number> {
    const topic = this.topics.get(name);
    let done = new Set<number>();
    if (!topic) {
      this.logger.warn('outbox rows of a topic without handler', {
        table: this.table,
        topic: name,
      });
    } else {
      try {
        const result = await topic.handler(list, { path });
        done = new Set(result ?? list.map((r) => r.id));
      } catch (err) {
        this.logger.warn('outbox delivery failed; the rows stay queued', {
          table: this.table,
          topic: name,
          path,
          rows: list.length,
          error: (err as Error).message,
        });
      }
    }
    const { ok, failed } = inKeyOrder(list, done);
    this.count(ok, path, 'ok');
    this.count(failed, path, 'failed');
    if (topic) {
      if (failed.length > 0) {
        topic.skipInlineUntil = Date.now() + Math.max(1000, 2 * this.options.intervalMs);
      } else if (path === 'outbox') topic.skipInlineUntil = 0;
    }
    this.removeSoon(ok.map((r) => r.id));
    // A failed call hands its rows back at once (with backoff), not after their lease.
    await this.store
      .release(
        failed.map((r) => r.id),
        path === 'inline',
        this.baseMs,
        this.maxMs,
      )
      .catch((err: unknown) =>
        this.logger.warn('outbox reschedule failed', {
          table: this.table,
          error: (err as Error).message,
        }),
      );
    return ok.length;
  }

  private count(rows: OutboxRow[], path: string, result: string): void {
    const topics = new Map<string, number>();
    for (const r of rows) topics.set(r.topic, (topics.get(r.topic) ?? 0) + 1);
    for (const [topic, n] of topics)
      this.counter.inc({ table: this.table, topic, path, result }, n);
  }

  /**
   * Deletes delivered rows off the caller's path, many batches per statement. A row whose
   * delete is lost (crash) is only delivered again, which handlers must tolerate anyway.
   */
  private removeSoon(ids: number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.delivered.add(id);
    this.toRemove.push(...ids);
    this.removing ??= this.removeDelivered().finally(() => {
      this.removing = undefined;
    });
  }

  private async removeDelivered(): Promise<void> {
    while (this.toRemove.length > 0) {
      const ids = this.toRemove.splice(0, 1000);
      await this.store.remove(ids).catch((err: unknown) =>
        this.logger.warn('outbox cleanup failed', {
          table: this.table,
          error: (err as Error).message,
        }),
      );
      for (const id of ids) this.delivered.delete(id);
    }
  }

  /** Starts the drainer (every replica runs one; claims never overlap). */
  start(): void {
    for (const loop of this.drainLoops()) loop.start();
  }

  /** Stops the drainer; waits for its drains, the inline deliveries and the pending deletes. */
  async stop(): Promise<void> {
    await Promise.all([...this.drainLoops()].map((loop) => loop.stop()));
    await Promise.all([...this.tails.values()]);
    await this.removing;
    dropOutboxMetrics(this.options.registry, this.store);
  }

  /** Claims and delivers due rows until none are left; returns how many were delivered. */
  async drainOnce(): Promise<number> {
    const counts = await Promise.all([...this.drainLoops()].map((loop) => loop.drainOnce()));
    return counts.reduce((a, b) => a + b, 0);
  }

  private drainLoops(): Set<DrainLoop> {
    return new Set(this.loopsByTopic().values());
  }

  /**
   * One loop for the drainSoon topics and one for the others: the batch rows of a drainSoon
   * topic (events) must not wait behind a claim whose handler waits on a dead peer.
   */
  private loopsByTopic(): Map<string, DrainLoop> {
    if (!this.loops) {
      const loops = new Map<string, DrainLoop>();
      const groups = [
        [...this.topics].filter(([, t]) => t.drainSoon).map(([name]) => name),
        [...this.topics].filter(([, t]) => !t.drainSoon).map(([name]) => name),
      ];
      for (const names of groups.filter((g) => g.length > 0)) {
        const loop = new DrainLoop(
          () => this.drainStep(names),
          this.options.intervalMs,
          (err) =>
            this.logger.warn('outbox drain failed', { table: this.table, error: err.message }),
        );
        for (const name of names) loops.set(name, loop);
      }
      this.loops = loops;
    }
    return this.loops;
  }

  /** One claim of the given topics' due rows, delivered. */
  private async drainStep(topics: string[]): Promise<DrainStep> {
    // Our own delivered rows whose delete has not run yet block nothing of ours.
    const { claimed, waiting } = await this.store.claim(
      this.batchSize,
      this.options.leaseMs,
      Math.min(FOLLOW_UP_MS, this.options.intervalMs),
      this.delivered,
      topics,
    );
    const delivered = claimed.length > 0 ? await this.handle(claimed, 'outbox') : 0;
    return { claimed: claimed.length, delivered, waiting };
  }

  /** Runs the drain loops of these rows' topics within FOLLOW_UP_MS. */
  private wake(rows: readonly OutboxRow[]): void {
    const loops = this.loopsByTopic();
    // Waking a loop twice is as once.
    for (const row of rows) loops.get(row.topic)?.wake();
  }

  /** Rows in the table, delivered-but-not-yet-deleted ones included. */
  async countPending(): Promise<number> {
    return (await this.store.stats()).rows;
  }
}

/**
 * Splits rows into delivered and not, keeping each key's delivered rows a prefix: a row after
 * an undelivered row of its key counts as undelivered (it goes again, after that one).
 */
function inKeyOrder(
  rows: OutboxRow[],
  done: Set<number>,
): { ok: OutboxRow[]; failed: OutboxRow[] } {
  const ok: OutboxRow[] = [];
  const failed: OutboxRow[] = [];
  for (const list of byKey(rows).values()) {
    let broken = false;
    for (const row of [...list].sort((a, b) => a.id - b.id)) {
      if (!broken && done.has(row.id)) ok.push(row);
      else {
        broken = true;
        failed.push(row);
      }
    }
  }
  return { ok, failed };
}
