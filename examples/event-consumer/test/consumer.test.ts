import { eventRow } from '@im-repo/events';
import { createTestEvents, type TestEvents } from '@im-repo/testing';
import { jetstream } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { expect } from 'chai';
import { consumeEvents } from '../src/consumer';

describe('event consumer example (real NATS)', function () {
  this.timeout(30_000);
  let events: TestEvents;
  let nc: NatsConnection;
  before(async () => {
    events = await createTestEvents();
    nc = await connect({ servers: events.natsUrl });
    await events.jsm.streams.add({
      name: events.stream,
      subjects: [`${events.prefix}.>`],
      duplicate_window: nanos(120_000),
    });
  });
  after(async () => {
    await nc?.close();
    await events?.teardown();
  });

  it('hands each event over once, in order, decoded, and a restart of the durable consumer resumes after the acked ones', async () => {
    const js = jetstream(nc);
    const publish = async (operatorId: string) => {
      const row = eventRow('g1', new Date(), {
        $case: 'groupDismissed',
        value: { groupId: 'g1', operatorId },
      });
      await js.publish(`${events.prefix}.group.dismissed.g1`, row.payload);
      return row;
    };
    await publish('a');
    const again = await publish('b');
    // A re-published event (same event_id, e.g. no Nats-Msg-Id) is skipped by the consumer.
    await js.publish(`${events.prefix}.group.dismissed.g1`, again.payload);
    const got: string[] = [];
    const options = { stream: events.stream, durable: 'example' };
    let messages = await consumeEvents(nc, options, (_s, e) => {
      got.push((e.payload!.value as { operatorId: string }).operatorId);
    });
    const until = async (n: number) => {
      const deadline = Date.now() + 20_000;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    await until(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(got).to.deep.equal(['a', 'b']);
    messages.stop();
    await publish('c');
    messages = await consumeEvents(nc, options, (_s, e) => {
      got.push((e.payload!.value as { operatorId: string }).operatorId);
    });
    await until(3);
    messages.stop();
    expect(got).to.deep.equal(['a', 'b', 'c']);
  });
});
