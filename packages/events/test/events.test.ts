import { openDatabase, withTransaction, type Sequelize } from '@im-repo/db';
import { Outbox, outboxTableMigration } from '@im-repo/outbox';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  createTestEnvironment,
  createTestEvents,
  type TestEnvironment,
  type TestEvents,
} from '@im-repo/testing';
import { expect } from 'chai';
import {
  ensureStream,
  eventHead,
  eventRow,
  EventPublisher,
  EVENTS_TOPIC,
  MIN_DUPLICATE_WINDOW_MS,
  StreamMisfitError,
} from '../src';

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

  it('reads an event’s id and payload field without decoding it whole', () => {
    const row = eventRow('g1', new Date(), {
      $case: 'groupDismissed',
      value: { groupId: 'g1', operatorId: 'u1' },
    });
    const head = eventHead(row.payload);
    expect(head.field).to.equal(16);
    expect(head.eventId).to.have.length(26);
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
  });
});
