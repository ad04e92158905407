import { execute, select, withTransaction, type Sequelize, type Transaction } from '@im-repo/db';
import type { NewOutboxRow, OutboxRow } from './outbox.types';

interface StoredRow {
  id: number;
  topic: string;
  ordering_key: Buffer;
  payload: Buffer;
  attempts: number;
}

const INSERT_CHUNK = 1000;
const us = (ms: number) => Math.max(0, Math.round(ms * 1000));
const toRow = (r: StoredRow): OutboxRow => ({
  id: Number(r.id),
  topic: r.topic,
  key: Buffer.from(r.ordering_key).toString('utf8'),
  payload: r.payload ?? Buffer.alloc(0),
  attempts: r.attempts,
});

export const keyId = (r: { topic: string; key: string }) => `${r.topic}\u0000${r.key}`;

/** Per key (in first-seen order), the rows of that key. */
export function byKey<T extends { topic: string; key: string }>(rows: T[]): Map<string, T[]> {
  const keys = new Map<string, T[]>();
  for (const row of rows) {
    const list = keys.get(keyId(row));
    if (list) list.push(row);
    else keys.set(keyId(row), [row]);
  }
  return keys;
}

/**
 * Every statement on one outbox table. Times come from the database clock (UTC_TIMESTAMP), so
 * replicas with skewed clocks agree on what is due. Everything but the caller's own
 * transaction runs in READ COMMITTED: no gap or next-key locks, so the drainer's claims,
 * deletes and reschedules cannot deadlock with each other or with inserting writers (see
 * README: that is how the old outboxes deadlocked).
 */
export class OutboxStore {
  private increment: Promise<number> | undefined;

  constructor(
    private readonly db: Sequelize,
    readonly table: string,
  ) {}

  private rc<T>(fn: (t: Transaction) => Promise<T>): Promise<T> {
    // No silent retry: a deadlock here would be a bug to see in the log (the drainer simply
    // tries again next round).
    return withTransaction(this.db, fn, { isolation: 'READ COMMITTED', retries: 0 });
  }

  /**
   * Inserts rows in the caller's transaction; returns their ids. A multi-row INSERT takes
   * consecutive auto-increment values (MySQL and MariaDB reserve a simple insert's values at
   * once, which Sequelize's bulkCreate relies on too), spaced by auto_increment_increment.
   */
  async insert(t: Transaction, rows: NewOutboxRow[], delayMs: number[]): Promise<number[]> {
    // Read in the caller's transaction: a second connection taken while it holds one could
    // exhaust the pool when many writers start at once.
    const step = await (this.increment ??= select<{ n: number }>(
      this.db,
      'SELECT @@auto_increment_increment AS n',
      [],
      t,
    )
      .then(([row]) => Number(row?.n ?? 1))
      .catch((err: unknown) => {
        this.increment = undefined;
        throw err;
      }));
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const { insertId } = await execute(
        this.db,
        `INSERT INTO ${this.table}
           (topic, ordering_key, payload, attempts, next_attempt_at, created_at)
         VALUES ${chunk
           .map(() => '(?, ?, ?, 0, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(3))')
           .join(', ')}`,
        chunk.flatMap((r, j) => [r.topic, r.key, r.payload, us(delayMs[i + j]!)]),
        t,
      );
      for (let j = 0; j < chunk.length; j++) ids.push(insertId + j * step);
    }
    return ids;
  }

  /**
   * The keys among `rows` that have a row of someone else's older than the newest of `rows`
   * (ids in `exclude` do not count: delivered, their delete not run yet). Older than the newest,
   * not the oldest: one delivery may carry several commits of a key (a batch split into
   * commits), and another writer's row committed between two of them must go out before the
   * later one. A plain read outside any transaction: it sees every commit so far and waits on
   * no lock.
   */
  async keysWithOlderRows(rows: OutboxRow[], exclude: Iterable<number>): Promise<Set<string>> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    for (const list of byKey(rows).values()) {
      conditions.push('(topic = ? AND ordering_key = ? AND id < ?)');
      params.push(list[0]!.topic, list[0]!.key, Math.max(...list.map((r) => r.id)));
    }
    const skip = [...exclude, ...rows.map((r) => r.id)];
    const found = await select<{ topic: string; ordering_key: Buffer }>(
      this.db,
      `SELECT DISTINCT topic, ordering_key FROM ${this.table}
       WHERE (${conditions.join(' OR ')})${skip.length > 0 ? ' AND id NOT IN (?)' : ''}`,
      skip.length > 0 ? [...params, skip] : params,
    );
    return new Set(
      found.map((r) => keyId({ topic: r.topic, key: Buffer.from(r.ordering_key).toString() })),
    );
  }

  /**
   * Claims up to `limit` due rows, each only when every older row of its key is claimed with
   * it (per-key order across replicas: a key's rows are never out with two claimers at once).
   * Claimed rows get attempts + 1 and are leased leaseMs out. Due rows that must wait for an
   * older row of their key are pushed back by waitMs, so they cannot crowd other keys' rows
   * out of the next claims. SKIP LOCKED lets replicas claim side by side. Rows in `done` (the
   * caller's delivered rows, their delete not run yet) block nothing. Only rows of `topics` (the
   * caller's handlers) are claimed: a replica without a topic's handler (events off while
   * another replica has them on, on one table) must not take its rows and fail them.
   */
  async claim(
    limit: number,
    leaseMs: number,
    waitMs: number,
    done: ReadonlySet<number>,
    topics: readonly string[],
  ): Promise<{ claimed: OutboxRow[]; waiting: number }> {
    if (topics.length === 0) return { claimed: [], waiting: 0 };
    return this.rc(async (t) => {
      const candidates = (
        await select<StoredRow>(
          this.db,
          `SELECT id, topic, ordering_key, payload, attempts
           FROM ${this.table} FORCE INDEX (ix_${this.table}_due)
           WHERE next_attempt_at <= UTC_TIMESTAMP(3) AND topic IN (?)
           ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
          [topics, limit],
          t,
        )
      ).map(toRow);
      if (candidates.length === 0) return { claimed: [], waiting: 0 };

      // Every row of the candidates' keys below their newest candidate, committed or locked by
      // another claimer (a plain read waits on no lock): any that is not ours blocks the rows
      // of its key behind it.
      const keys = byKey(candidates);
      const conditions: string[] = [];
      const params: unknown[] = [];
      for (const list of keys.values()) {
        conditions.push('(topic = ? AND ordering_key = ? AND id < ?)');
        params.push(list[0]!.topic, list[0]!.key, Math.max(...list.map((r) => r.id)));
      }
      const older = await select<{ id: number; topic: string; ordering_key: Buffer }>(
        this.db,
        `SELECT id, topic, ordering_key FROM ${this.table} WHERE ${conditions.join(' OR ')}`,
        params,
        t,
      );
      const mine = new Set(candidates.map((r) => r.id));
      const firstForeign = new Map<string, number>();
      for (const row of older) {
        const id = Number(row.id);
        if (mine.has(id) || done.has(id)) continue;
        const key = keyId({ topic: row.topic, key: Buffer.from(row.ordering_key).toString() });
        firstForeign.set(key, Math.min(id, firstForeign.get(key) ?? Infinity));
      }
      const claimed: OutboxRow[] = [];
      const waiting: number[] = [];
      for (const row of candidates) {
        if (row.id < (firstForeign.get(keyId(row)) ?? Infinity)) claimed.push(row);
        else waiting.push(row.id);
      }
      if (claimed.length > 0) {
        await execute(
          this.db,
          `UPDATE ${this.table}
           SET attempts = attempts + 1, next_attempt_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
           WHERE id IN (?)`,
          [us(leaseMs), claimed.map((r) => r.id)],
          t,
        );
      }
      if (waiting.length > 0) {
        await execute(
          this.db,
          `UPDATE ${this.table} SET next_attempt_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
           WHERE id IN (?)`,
          [us(waitMs), waiting],
          t,
        );
      }
      return {
        claimed: claimed
          .map((r) => ({ ...r, attempts: r.attempts + 1 }))
          .sort((a, b) => a.id - b.id),
        waiting: waiting.length,
      };
    });
  }

  /** Makes rows due now (inline rows that must wait for an older row of their key). */
  async makeDue(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.rc((t) =>
      execute(
        this.db,
        `UPDATE ${this.table} SET next_attempt_at = UTC_TIMESTAMP(3) WHERE id IN (?)`,
        [ids],
        t,
      ),
    );
  }

  /**
   * Reschedules rows after a failed delivery: baseMs x 2^(attempts - 1), at most maxMs, from
   * now on the database clock. `attempted` adds the attempt first (the inline path; a claim
   * already counted its own). The pacing is stored in the row, so every replica honours it.
   */
  async release(ids: number[], attempted: boolean, baseMs: number, maxMs: number): Promise<void> {
    if (ids.length === 0) return;
    const attempts = attempted ? 'attempts + 1' : 'attempts';
    await this.rc((t) =>
      execute(
        this.db,
        // next_attempt_at first: later assignments of a MySQL UPDATE see earlier ones.
        `UPDATE ${this.table}
         SET next_attempt_at = UTC_TIMESTAMP(3) + INTERVAL CAST(
               LEAST(?, ? * POW(2, LEAST(20, GREATEST(0, ${attempts} - 1)))) * 1000 AS UNSIGNED
             ) MICROSECOND,
             attempts = ${attempts}
         WHERE id IN (?)`,
        [maxMs, baseMs, ids],
        t,
      ),
    );
  }

  /** Deletes delivered rows. */
  async remove(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.rc((t) => execute(this.db, `DELETE FROM ${this.table} WHERE id IN (?)`, [ids], t));
  }

  async stats(): Promise<{ rows: number; oldestAgeSeconds: number }> {
    const [row] = await select<{ n: number; age_us: number | null }>(
      this.db,
      `SELECT CAST(COUNT(*) AS SIGNED) AS n,
              TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(3)) AS age_us
       FROM ${this.table}`,
    );
    return { rows: Number(row?.n ?? 0), oldestAgeSeconds: Number(row?.age_us ?? 0) / 1e6 };
  }
}
