import type { Config, DeepPartial } from '@im-repo/config';
import { singleConversationId } from '@im-repo/proto';
import type { Event } from '@im-repo/proto/events';
import { ContentType, ConversationType } from '@im-repo/proto/message';
import {
  createTestEnvironment,
  createTestEvents,
  startNatsServer,
  type LocalNatsServer,
  type TestEnvironment,
  type TestEvents,
} from '@im-repo/testing';
import { expect } from 'chai';
import { Stack } from './stack';

type Created = Extract<Event['payload'], { $case: 'messageCreated' }>;

// NATS of the test's own, stopped for several seconds in the middle of a send load.
describe('change events while NATS is down (own nats-server, stopped and restarted)', function () {
  this.timeout(180_000);
  let env: TestEnvironment;
  let nats: LocalNatsServer;
  let events: TestEvents;
  let stack: Stack;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('e2e-events-outage');
    nats = await startNatsServer();
    events = await createTestEvents(nats.url);
    const on: DeepPartial<Config> = { events: events.settings };
    stack = await Stack.start(env, { user: on, group: on, message: on, conversation: on });
  });
  after(async () => {
    await stack?.stop();
    await events?.teardown();
    await nats?.destroy();
    await env?.teardown();
  });

  it('every call succeeds; every event reaches the stream once, in order, once NATS is back', async () => {
    const users = await stack.registerUsers([0, 1, 2].map((i) => `outage-${run}-${i}`));
    const pairs: [string, string][] = [
      [users[0]!, users[1]!],
      [users[1]!, users[2]!],
    ];
    let sent = 0;
    let stopLoad = false;
    const load = (async () => {
      for (let i = 0; !stopLoad; i++) {
        await Promise.all(
          pairs.map(([s, r]) =>
            stack.clients.message.sendMessage({
              clientMsgId: `o-${run}-${s}-${i}`,
              senderId: s,
              conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
              recipientId: r,
              contentType: ContentType.CONTENT_TYPE_TEXT,
              content: Buffer.from(`n ${i}`),
            }),
          ),
        );
        sent += pairs.length;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const waitSent = async (n: number) => {
      while (sent < n) await new Promise((r) => setTimeout(r, 50));
    };
    await waitSent(20);
    await nats.stop();
    const atStop = sent;
    await new Promise((r) => setTimeout(r, 5000));
    // Calls kept succeeding while NATS was down.
    expect(sent).to.be.greaterThan(atStop);
    await nats.start();
    await waitSent(sent + 20);
    stopLoad = true;
    await load; // every call succeeded, or this throws

    const total = 3 + sent; // 3 registrations, then the sends
    const got = await events.waitFor(total, 120_000);
    await new Promise((r) => setTimeout(r, 2000));
    const final = await events.read();
    expect(final.length).to.equal(total);
    expect(new Set(final.map((e) => e.event.eventId)).size).to.equal(total);
    for (const [s, r] of pairs) {
      const cid = singleConversationId(s, r);
      const seqs = got
        .filter((e) => e.subject === `${events.prefix}.message.created.${cid}`)
        .map((e) => (e.event.payload as Created).value.message!.seq);
      expect(seqs).to.deep.equal(Array.from({ length: sent / 2 }, (_, i) => i + 1));
    }
  });
});
