import { createSequelize, migrateUp, select, withTransaction, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  databaseNow,
  Outbox,
  outboxTableMigration,
  type NewOutboxRow,
  type OutboxHandler,
  type OutboxOptions,
  type OutboxRow,
} from '../src';

const TABLE = 'test_outbox';

describe('Outbox', () => {
  let env: TestEnvironment;
  let dbs: Sequelize[];
  const started: Outbox[] = [];

  before(async () => {
    env = await createTestEnvironment('outbox');
    const config = env.config('user', { db: { pool_max: 10 } });
    // Two connection pools: two replicas of a service on one table.
    dbs = [createSequelize(config.db), createSequelize(config.db)];
    await migrateUp(dbs[0]!, 'outboxtest', [outboxTableMigration('0001-outbox', TABLE)]);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((o) => o.stop()));
    await dbs[0]!.query(`DELETE FROM ${TABLE}`);
  });

  after(async () => {
    await Promise.all(dbs.map((db) => db.close()));
    await env.teardown();
  });

  const warnings: string[] = [];
  const logger = {
    warn: (message: string, meta?: object) => warnings.push(`${message} ${JSON.stringify(meta)}`),
  };

  function outbox(replica: 0 | 1, options: Partial<OutboxOptions> = {}): Outbox {
    const o = new Outbox({
      db: dbs[replica]!,
      table: TABLE,
      leaseMs: 2000,
      intervalMs: 50,
      backoffMaxMs: 200,
      logger,
      ...options,
    });
    started.push(o);
    return o;
  }

  const rows = (topic: string, key: string, n: number, from = 0): NewOutboxRow[] =>
    Array.from({ length: n }, (_, i) => ({
      topic,
      key,
      payload: Buffer.from(`${key}:${from + i}`),
    }));

  const enqueue = (o: Outbox, list: NewOutboxRow[], db = dbs[0]!) =>
    withTransaction(db, (t) => o.enqueue(t, list));

  const count = async () =>
    Number(
      (
        await select<{ n: number }>(dbs[0]!, `SELECT CAST(COUNT(*) AS SIGNED) AS n FROM ${TABLE}`)
      )[0]!.n,
    );

  /** A handler that records what it was given and when each key's rows were in flight. */
  function recorder(options: { failEvery?: number; delayMs?: () => number } = {}) {
    const delivered: OutboxRow[] = [];
    const inFlight = new Set<string>();
    const overlaps: string[] = [];
    let calls = 0;
    const handler: OutboxHandler = async (batch) => {
      calls++;
      const keys = [...new Set(batch.map((r) => `${r.topic}/${r.key}`))];
      for (const k of keys) {
        if (inFlight.has(k)) overlaps.push(k);
        inFlight.add(k);
      }
      try {
        await new Promise((r) => setTimeout(r, options.delayMs?.() ?? 0));
        if (options.failEvery && calls % options.failEvery === 0) throw new Error('peer down');
        delivered.push(...batch);
      } finally {
        for (const k of keys) inFlight.delete(k);
      }
    };
    return { handler, delivered, overlaps };
  }

  /** Per key, the payload order of first deliveries must follow the enqueue order. */
  function expectKeyOrder(delivered: OutboxRow[]) {
    const firsts = new Map<string, number[]>();
    const seen = new Set<number>();
    for (const r of delivered) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const list = firsts.get(r.key) ?? [];
      list.push(r.id);
      firsts.set(r.key, list);
    }
    for (const [key, ids] of firsts) {
      expect(ids, `key ${key}`).to.deep.equal([...ids].sort((a, b) => a - b));
    }
    return seen;
  }

  it('delivers inline right after the commit, each key in id order, and then deletes the rows', async () => {
    const a = outbox(0);
    const r = recorder();
    a.register('t', r.handler);
    const enqueued = await enqueue(a, [...rows('t', 'k1', 3), ...rows('t', 'k2', 2)]);
    expect(enqueued.inline).to.deep.equal([true, true, true, true, true]);
    await a.deliver(enqueued);
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal([
      'k1:0',
      'k1:1',
      'k1:2',
      'k2:0',
      'k2:1',
    ]);
    expect(r.delivered.every((x) => x.attempts === 0)).to.equal(true);
    await waitFor(async () => (await count()) === 0, { what: 'the delivered rows deleted' });
  });

  it('leases rows held for the inline delivery; a crash before it leaves them to a drainer after the lease', async () => {
    const a = outbox(0, { leaseMs: 1500 });
    const r = recorder();
    a.register('t', r.handler);
    await enqueue(a, rows('t', 'orphan', 2)); // committed, then "crashed": deliver() never runs
    expect(await a.drainOnce()).to.equal(0); // leased: not the drainer's yet
    const [lease] = await select<{ ms: number }>(
      dbs[0]!,
      `SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), MIN(next_attempt_at)) / 1000 AS ms FROM ${TABLE}`,
    );
    expect(Number(lease!.ms)).to.be.greaterThan(500).and.at.most(1500);
    const b = outbox(1, { leaseMs: 1500 });
    b.register('t', r.handler);
    b.start();
    await waitFor(() => r.delivered.length === 2, { timeoutMs: 10_000, what: 'the orphans' });
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal(['orphan:0', 'orphan:1']);
    expect(r.delivered.every((x) => x.attempts === 1)).to.equal(true);
  });

  it('backs off per row on the database clock: base x 2^(attempts - 1), capped', async () => {
    const a = outbox(0, { backoffBaseMs: 10_000, backoffMaxMs: 25_000 });
    a.register('t', async () => {
      throw new Error('peer down');
    });
    const delayOf = async () => {
      const [row] = await select<{ attempts: number; ms: number }>(
        dbs[0]!,
        `SELECT attempts, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), next_attempt_at) / 1000 AS ms
         FROM ${TABLE}`,
      );
      return { attempts: row!.attempts, ms: Number(row!.ms) };
    };
    await a.deliver(await enqueue(a, rows('t', 'b', 1))); // the inline attempt fails
    let d = await delayOf();
    expect(d.attempts).to.equal(1);
    expect(d.ms).to.be.within(8_000, 10_000);
    for (const expected of [20_000, 25_000]) {
      await dbs[0]!.query(`UPDATE ${TABLE} SET next_attempt_at = UTC_TIMESTAMP(3)`);
      expect(await a.drainOnce()).to.equal(0); // claimed, failed, rescheduled
      d = await delayOf();
      expect(d.ms).to.be.within(expected - 2000, expected);
    }
    expect(d.attempts).to.equal(3);
  });

  it('after a failure, later rows of the topic skip the inline attempt and are due at once', async () => {
    const a = outbox(0);
    let down = true;
    const delivered: string[] = [];
    a.register('t', async (batch) => {
      if (down) throw new Error('peer down');
      delivered.push(...batch.map((x) => x.payload.toString()));
    });
    await a.deliver(await enqueue(a, rows('t', 's', 1)));
    const next = await enqueue(a, rows('t', 's', 1, 1));
    expect(next.inline).to.deep.equal([false]);
    down = false;
    await a.deliver(next); // nothing to do inline
    expect(delivered).to.deep.equal([]);
    // The drainer delivers both, in order, once the first row's backoff has run out.
    a.start();
    await waitFor(() => delivered.length === 2, { timeoutMs: 10_000, what: 'the drainer' });
    expect(delivered).to.deep.equal(['s:0', 's:1']);
  });

  it('alwaysInline rows are tried inline even while their topic skips the inline attempt', async () => {
    const a = outbox(0);
    let down = true;
    const delivered: string[] = [];
    a.register('t', async (batch) => {
      if (down) throw new Error('peer down');
      delivered.push(...batch.map((x) => x.payload.toString()));
    });
    await a.deliver(await enqueue(a, rows('t', 'u', 1)));
    down = false;
    const other = await withTransaction(dbs[0]!, (t) =>
      a.enqueue(t, rows('t', 'v', 1), { alwaysInline: true }),
    );
    expect(other.inline).to.deep.equal([true]);
    await a.deliver(other);
    expect(delivered).to.deep.equal(['v:0']);
  });

  it('a row delivered after an undelivered row of its key counts as undelivered', async () => {
    const a = outbox(0);
    const calls: string[][] = [];
    a.register('t', async (batch) => {
      calls.push(batch.map((x) => x.payload.toString()));
      // Claims to have delivered only the second row of p, and q.
      return batch.filter((x) => x.payload.toString() !== 'p:0').map((x) => x.id);
    });
    await a.deliver(await enqueue(a, [...rows('t', 'p', 2), ...rows('t', 'q', 1)]));
    await waitFor(async () => (await count()) === 2, { what: 'q deleted' });
    const left = await select<{ payload: Buffer; attempts: number }>(
      dbs[0]!,
      `SELECT payload, attempts FROM ${TABLE} ORDER BY id`,
    );
    expect(left.map((x) => x.payload.toString())).to.deep.equal(['p:0', 'p:1']);
    expect(left.map((x) => x.attempts)).to.deep.equal([1, 1]);
  });

  it("never delivers past another replica's older row of the key: the inline path leaves it to the drainer", async () => {
    const a = outbox(0);
    const b = outbox(1);
    const r = recorder();
    a.register('t', r.handler);
    b.register('t', r.handler);
    const first = await enqueue(a, rows('t', 'x', 1)); // replica A's inline delivery is pending
    await b.deliver(await enqueue(b, rows('t', 'x', 1, 1), dbs[1]));
    expect(r.delivered).to.deep.equal([]);
    expect(await b.drainOnce()).to.equal(0); // x:1 is due, but x:0 is still out
    await a.deliver(first);
    await waitFor(async () => (await b.drainOnce()) > 0 || r.delivered.length === 2, {
      timeoutMs: 10_000,
      what: 'x:1 after x:0',
    });
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal(['x:0', 'x:1']);
  });

  it("one delivery of two commits of a key waits for another replica's row committed between them", async () => {
    const a = outbox(0);
    const b = outbox(1);
    const r = recorder();
    a.register('t', r.handler);
    b.register('t', r.handler);
    // A commits x:0, B commits x:1, A commits x:2; A then delivers its two commits at once (a
    // batch that was split into commits). x:2 must not go out before B's x:1.
    const first = await enqueue(a, rows('t', 'x', 1));
    const between = await enqueue(b, rows('t', 'x', 1, 1), dbs[1]);
    const third = await enqueue(a, rows('t', 'x', 1, 2));
    await a.deliver(first, third);
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal([]);
    await b.deliver(between);
    await waitFor(
      async () => {
        await Promise.all([a.drainOnce(), b.drainOnce()]);
        return r.delivered.length >= 3;
      },
      { timeoutMs: 10_000, what: 'every row delivered' },
    );
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal(['x:0', 'x:1', 'x:2']);
  });

  it('drainSoon: rows are due at once and deliver() wakes the drainer, which sends many commits in one call, in id order', async () => {
    // An interval far beyond the test: only the wake-up can deliver.
    const a = outbox(0, { intervalMs: 60_000 });
    const calls: string[][] = [];
    a.register(
      'batch',
      async (list) => {
        calls.push(list.map((x) => x.payload.toString()));
      },
      { drainSoon: true },
    );
    a.start();
    const commits = [];
    for (let i = 0; i < 3; i++) commits.push(await enqueue(a, rows('batch', 'one', 1, i)));
    expect(commits.map((c) => c.inline)).to.deep.equal([[false], [false], [false]]);
    await Promise.all(commits.map((c) => a.deliver(c)));
    await waitFor(async () => calls.flat().length === 3, { what: 'the rows drained' });
    expect(calls).to.deep.equal([['one:0', 'one:1', 'one:2']]);
    await waitFor(async () => (await count()) === 0, { what: 'the delivered rows deleted' });
  });

  it("drainSoon rows go out while another topic's handler hangs on a dead peer (a drain loop per group)", async () => {
    const a = outbox(0, { intervalMs: 20 });
    let release!: () => void;
    const hung = new Promise<void>((resolve) => (release = resolve));
    let peerCalls = 0;
    a.register(
      'peer',
      async () => {
        peerCalls++;
        await hung;
      },
      { inline: false },
    );
    const batches: string[] = [];
    a.register(
      'batch',
      async (list) => {
        batches.push(...list.map((x) => x.payload.toString()));
      },
      { drainSoon: true },
    );
    a.start();
    // The peer's rows first, left to the drainer, whose claim then waits on the hung handler.
    await enqueue(a, rows('peer', 'p', 2));
    try {
      await waitFor(async () => peerCalls > 0, { what: 'the peer handler called' });
      for (let i = 0; i < 3; i++) await a.deliver(await enqueue(a, rows('batch', 'events', 1, i)));
      await waitFor(async () => batches.length === 3, { timeoutMs: 2000, what: 'the batch rows' });
      expect(batches).to.deep.equal(['events:0', 'events:1', 'events:2']);
    } finally {
      release();
    }
  });

  it("rows that wait behind another replica's pending row are claimed again within moments, not at the next interval", async () => {
    const delivered: string[] = [];
    const record: OutboxHandler = async (list) => {
      delivered.push(...list.map((x) => x.payload.toString()));
    };
    // A holds one:0 for its inline delivery; only B's drainer (woken once) can deliver one:1.
    const a = outbox(0, { intervalMs: 60_000 });
    const b = outbox(1, { intervalMs: 60_000 });
    a.register('batch', record);
    b.register('batch', record, { drainSoon: true });
    b.start();
    const held = await enqueue(a, rows('batch', 'one', 1));
    await b.deliver(await enqueue(b, rows('batch', 'one', 1, 1), dbs[1]));
    await new Promise((r) => setTimeout(r, 200));
    expect(delivered).to.deep.equal([]);
    await a.deliver(held);
    await waitFor(async () => delivered.length === 2, { timeoutMs: 5000, what: 'both rows' });
    expect(delivered).to.deep.equal(['one:0', 'one:1']);
  });

  it("a replica without a topic's handler never claims its rows (events on in one replica, off in another)", async () => {
    const a = outbox(0);
    const b = outbox(1);
    const r = recorder();
    a.register('t', r.handler, { inline: false });
    b.register('other', r.handler);
    await enqueue(a, rows('t', 'k', 3));
    expect(await b.drainOnce()).to.equal(0);
    const [row] = await select<{ attempts: number }>(
      dbs[0]!,
      `SELECT MAX(attempts) AS attempts FROM ${TABLE}`,
    );
    expect(Number(row!.attempts)).to.equal(0);
    expect(await a.drainOnce()).to.equal(3);
    expect(r.delivered.map((x) => x.payload.toString())).to.deep.equal(['k:0', 'k:1', 'k:2']);
  });

  it('two drainers on one table under load: every row delivered, per-key order, never a key out twice at once, no deadlock', async function () {
    this.timeout(120_000);
    warnings.length = 0;
    const recorded = recorder({ failEvery: 7, delayMs: () => Math.random() * 5 });
    const replicas = [outbox(0, { batchSize: 40 }), outbox(1, { batchSize: 40 })];
    for (const o of replicas) {
      o.register('t', recorded.handler);
      o.register('noinline', recorded.handler, { inline: false });
      o.start();
    }
    // 24 keys, each written by one writer at a time (as services do, under the key's lock),
    // through both replicas, inline for half the topics: inline deliveries, claims, releases
    // and deletes of both replicas all run against each other.
    const KEYS = 24;
    const PER_KEY = 40;
    await Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        for (let i = 0; i < PER_KEY; i += 4) {
          const replica = ((k + i) % 2) as 0 | 1;
          const topic = k % 2 ? 't' : 'noinline';
          const enqueued = await enqueue(
            replicas[replica]!,
            rows(topic, `k${k}`, 4, i),
            dbs[replica],
          );
          await replicas[replica]!.deliver(enqueued);
        }
      }),
    );
    await waitFor(async () => (await count()) === 0, {
      timeoutMs: 90_000,
      what: 'every row delivered and deleted',
    });
    const seen = expectKeyOrder(recorded.delivered);
    expect(seen.size).to.equal(KEYS * PER_KEY);
    expect(recorded.overlaps).to.deep.equal([]);
    expect(
      warnings.filter((w) =>
        /deadlock|lock wait|inline delivery failed|drain failed|cleanup failed|reschedule failed/i.test(
          w,
        ),
      ),
    ).to.deep.equal([]);
  });

  it('reports the backlog and the oldest row age per table, and deliveries by topic', async () => {
    const registry = new Registry();
    const a = outbox(0, { registry });
    a.register('t', async () => undefined, { inline: false });
    await enqueue(a, rows('t', 'g', 3));
    await new Promise((r) => setTimeout(r, 50));
    const text = await registry.metrics();
    expect(text).to.match(new RegExp(`outbox_backlog_rows\\{table="${TABLE}"\\} 3`));
    const age = Number(
      new RegExp(`outbox_oldest_age_seconds\\{table="${TABLE}"\\} ([0-9.e-]+)`).exec(text)?.[1],
    );
    expect(age).to.be.greaterThan(0).and.below(60);
    await a.drainOnce();
    await waitFor(async () => (await count()) === 0, { what: 'the rows deleted' });
    await new Promise((r) => setTimeout(r, 1100)); // past the gauges' one-second cache
    const after = await registry.metrics();
    expect(after).to.match(new RegExp(`outbox_backlog_rows\\{table="${TABLE}"\\} 0`));
    expect(after).to.match(new RegExp(`outbox_oldest_age_seconds\\{table="${TABLE}"\\} 0`));
    expect(after).to.match(
      new RegExp(
        `outbox_deliveries_total\\{table="${TABLE}",topic="t",path="outbox",result="ok"\\} 3`,
      ),
    );
  });

  it('databaseNow reads the database clock in the transaction', async () => {
    const now = await withTransaction(dbs[0]!, (t) => databaseNow(dbs[0]!, t));
    expect(Math.abs(now.getTime() - Date.now())).to.be.below(60_000);
  });
});
