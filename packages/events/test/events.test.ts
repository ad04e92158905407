import { openDatabase, withTransaction, type Sequelize } from '@im-repo/db';
import { Outbox, outboxTableMigration } from '@im-repo/outbox';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  createTestEnvironment,
  createTestEvents,
  type TestEnvironment,
  type TestEvents,
} from '@im-repo/testing';
import { expect } from 'chai';
import {
  decodeEventBatch,
  ensureStream,
  eventBatchRow,
  eventHead,
  eventRow,
  EventPublisher,
  EVENT_BATCH_KEY,
  EVENT_BATCH_TOPIC,
  EVENTS_TOPIC,
  newEvent,
  MIN_DUPLICATE_WINDOW_MS,
  StreamMisfitError,
} from '../src';
import { AckedPublisher } from '../src/acked-publish';

const quiet = { warn: () => undefined, info: () => undefined };

describe('@im-repo/events against the real NATS', function () {
  this.timeout(60_000);
  let events: TestEvents;
  let nc: NatsConnection;

  before(async () => {
    events = await createTestEvents();
    nc = await connect({ servers: events.natsUrl });
  });
  after(async () => {
    await nc?.close();
    await events?.teardown();
  });

  const settings = () => ({
    natsUrl: events.natsUrl,
    stream: events.stream,
    subjectPrefix: events.prefix,
    maxAgeHours: 2,
  });

  it('creates a missing stream: subjects <prefix>.>, file storage, max age, a 2 min duplicate window', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, settings());
    const info = await jsm.streams.info(events.stream);
    expect(info.config.subjects).to.deep.equal([`${events.prefix}.>`]);
    expect(info.config.storage).to.equal('file');
    expect(info.config.max_age).to.equal(nanos(2 * 3_600_000));
    expect(info.config.duplicate_window).to.equal(nanos(MIN_DUPLICATE_WINDOW_MS));
    // An existing stream that fits is used as it is.
    await ensureStream(jsm, settings());
  });

  it('refuses a stream whose subjects or duplicate window do not fit, naming it', async () => {
    const jsm = await jetstreamManager(nc);
    const name = `${events.stream}_MISFIT`;
    const prefix = `${events.prefix}x`;
    await jsm.streams.add({
      name,
      subjects: [`${prefix}.>`],
      duplicate_window: nanos(10_000),
    });
    try {
      const misfit = { ...settings(), stream: name, subjectPrefix: prefix };
      let err: unknown;
      await ensureStream(jsm, misfit).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(StreamMisfitError);
      expect((err as Error).message)
        .to.include(name)
        .and.to.include('duplicate window');
      await ensureStream(jsm, { ...misfit, subjectPrefix: `${prefix}.other` }).catch(
        (e: unknown) => (err = e),
      );
      expect((err as Error).message)
        .to.include(name)
        .and.to.include('subjects');
      // The publisher (what a service opens at start) refuses too.
      let opened: unknown;
      await EventPublisher.open(
        { ...misfit, natsUrl: events.natsUrl },
        { name: 'test', logger: quiet },
      ).catch((e: unknown) => (opened = e));
      expect(opened).to.be.instanceOf(StreamMisfitError);
    } finally {
      await jsm.streams.delete(name);
    }
  });

  it('acked publishes: stored once per msg id (a repeat is acked as a duplicate), refused at once where no stream listens, timed out where nothing answers', async () => {
    // A stream of its own: the other tests read every message of the run's stream as an Event.
    const jsm = await jetstreamManager(nc);
    const stream = `A${events.stream}`;
    await jsm.streams.add({ name: stream, subjects: [`a${events.prefix}.>`] });
    const acks = new AckedPublisher(nc, 500);
    try {
      const subject = `a${events.prefix}.acked`;
      await Promise.all([
        acks.publish(subject, Buffer.from('one'), `acked-${events.prefix}-1`),
        acks.publish(subject, Buffer.from('two'), `acked-${events.prefix}-2`),
      ]);
      // The same msg id again: acked (as a duplicate), not stored twice.
      await acks.publish(subject, Buffer.from('one again'), `acked-${events.prefix}-1`);
      expect((await jsm.streams.info(stream)).state.messages).to.equal(2);

      // No stream takes this subject: the server answers 503 on the reply subject.
      const started = Date.now();
      const refused = await acks
        .publish(`u${events.prefix}.nowhere`, Buffer.from('x'), 'nowhere-1')
        .then(
          () => undefined,
          (err: Error) => err,
        );
      expect(refused?.message).to.match(/503/);
      expect(Date.now() - started).to.be.below(500);

      // A subscriber that never answers: the publish times out instead of hanging.
      const silent = nc.subscribe(`s${events.prefix}.silent`);
      const timedOut = await acks
        .publish(`s${events.prefix}.silent`, Buffer.from('x'), 'silent-1')
        .then(
          () => undefined,
          (err: Error) => err,
        );
      silent.unsubscribe();
      expect(timedOut?.message).to.match(/no JetStream ack within 500 ms/);
    } finally {
      acks.close();
      await jsm.streams.delete(stream).catch(() => undefined);
    }
  });

  it('reads an event’s id and payload field without decoding it whole', () => {
    const row = eventRow('g1', new Date(), {
      $case: 'groupDismissed',
      value: { groupId: 'g1', operatorId: 'u1' },
    });
    const head = eventHead(row.payload);
    expect(head.field).to.equal(16);
    expect(head.eventId).to.have.length(26);
  });

  it('a batch row carries its events in order, each with its own id and key, and decodes back', () => {
    const written = Array.from({ length: 300 }, (_, i) =>
      newEvent(i % 3 === 0 ? 'g1' : `group-${'x'.repeat(i)}`, new Date(), {
        $case: 'groupDismissed',
        value: { groupId: 'g1', operatorId: `op${i}` },
      }),
    );
    const row = eventBatchRow(written);
    expect(row.topic).to.equal(EVENT_BATCH_TOPIC);
    expect(row.key).to.equal(EVENT_BATCH_KEY);
    const read = decodeEventBatch(row.payload);
    expect(read.map((e) => e.key)).to.deep.equal(written.map((e) => e.key));
    expect(read.map((e) => Buffer.from(e.bytes).toString('hex'))).to.deep.equal(
      written.map((e) => Buffer.from(e.bytes).toString('hex')),
    );
    const ids = read.map((e) => eventHead(e.bytes).eventId);
    expect(new Set(ids).size).to.equal(300);
    expect(decodeEventBatch(new Uint8Array(0))).to.deep.equal([]);
    expect(() => decodeEventBatch(row.payload.subarray(0, row.payload.length - 1))).to.throw(
      'truncated event batch',
    );
  });

  describe('with an outbox', () => {
    let env: TestEnvironment;
    let db: Sequelize;
    before(async () => {
      env = await createTestEnvironment('events');
      db = await openDatabase(env.config('user').db, 'events-test', {
        migrations: [outboxTableMigration('0001-test-outbox', 'test_outbox')],
      });
    });
    after(async () => {
      await db?.close();
      await env?.teardown();
    });

    it('a publisher that died after publishing but before removing the rows: the next drain publishes them again and the stream holds each once, in order', async () => {
      const publisher = await EventPublisher.open(settings(), { name: 'test', logger: quiet });
      const outbox = new Outbox({ db, table: 'test_outbox', leaseMs: 500, intervalMs: 100 });
      outbox.register(EVENTS_TOPIC, publisher.handler, { inline: false });
      try {
        const before = (await events.read()).length;
        const rows = Array.from({ length: 20 }, (_, i) =>
          eventRow(i % 2 === 0 ? 'k1' : 'k2', new Date(), {
            $case: 'groupDismissed',
            value: { groupId: i % 2 === 0 ? 'k1' : 'k2', operatorId: `op${i}` },
          }),
        );
        const enqueued = await withTransaction(db, (t) => outbox.enqueue(t, rows));
        // "Crash": the rows were published but the process died before deleting them.
        const published = await publisher.handler([...enqueued.rows], { path: 'outbox' });
        expect([...(published ?? [])]).to.have.length(20);
        expect(await outbox.countPending()).to.equal(20);
        // Another replica's drainer (after the lease) delivers the same rows again.
        await new Promise((r) => setTimeout(r, 600));
        expect(await outbox.drainOnce()).to.equal(20);
        const got = (await events.read()).slice(before);
        expect(got).to.have.length(20);
        for (const key of ['k1', 'k2']) {
          const ops = got
            .filter((e) => e.subject === `${events.prefix}.group.dismissed.${key}`)
            .map((e) => (e.event.payload!.value as { operatorId: string }).operatorId);
          const want = Array.from({ length: 20 }, (_, i) => i)
            .filter((i) => (i % 2 === 0) === (key === 'k1'))
            .map((i) => `op${i}`);
          expect(ops).to.deep.equal(want);
        }
      } finally {
        await outbox.stop();
        await publisher.close();
      }
    });
    it('batch rows: a publish failing midway leaves the rows queued; the retry keeps each key in commit order and each event once', async () => {
      const publisher = await EventPublisher.open(settings(), { name: 'test', logger: quiet });
      const outbox = new Outbox({
        db,
        table: 'test_outbox',
        leaseMs: 2000,
        intervalMs: 100,
        backoffBaseMs: 20,
        backoffMaxMs: 50,
      });
      outbox.register(EVENT_BATCH_TOPIC, publisher.handler, { inline: false });
      const jsm = await jetstreamManager(nc);
      const stream = await jsm.streams.info(events.stream);
      try {
        const before = (await events.read()).length;
        // Three commits, each with two events of k1 and k2 and one of k3 (15 in all).
        let n = 0;
        for (let commit = 0; commit < 3; commit++) {
          const batch = ['k1', 'k1', 'k2', 'k2', 'k3'].map((key) =>
            newEvent(key, new Date(), {
              $case: 'groupDismissed',
              value: { groupId: key, operatorId: `op${n++}` },
            }),
          );
          await withTransaction(db, (t) => outbox.enqueue(t, [eventBatchRow(batch)]));
        }
        // The stream takes 4 more events, then refuses: a failure in the middle of the rows.
        await jsm.streams.update(events.stream, {
          ...stream.config,
          max_msgs: stream.state.messages + 4,
          discard: DiscardPolicy.New,
        });
        const first = await outbox.drainOnce();
        // No row had all five of its events stored.
        expect(first).to.equal(0);
        expect(await outbox.countPending()).to.be.above(0);
        expect((await events.read()).length - before).to.equal(4);
        await jsm.streams.update(events.stream, stream.config);
        for (let i = 0; i < 100 && (await outbox.countPending()) > 0; i++) {
          await outbox.drainOnce();
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(await outbox.countPending()).to.equal(0);
        const got = (await events.read()).slice(before);
        expect(got).to.have.length(15);
        expect(new Set(got.map((e) => e.msgId)).size).to.equal(15);
        const want: Record<string, string[]> = { k1: [], k2: [], k3: [] };
        for (let i = 0; i < 15; i++) want[['k1', 'k1', 'k2', 'k2', 'k3'][i % 5]!]!.push(`op${i}`);
        for (const key of ['k1', 'k2', 'k3']) {
          const ops = got
            .filter((e) => e.subject === `${events.prefix}.group.dismissed.${key}`)
            .map((e) => (e.event.payload!.value as { operatorId: string }).operatorId);
          expect(ops, key).to.deep.equal(want[key]);
        }
      } finally {
        await jsm.streams.update(events.stream, stream.config).catch(() => undefined);
        await outbox.stop();
        await publisher.close();
      }
    });
  });
});
