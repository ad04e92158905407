import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import type { Message } from '@im-repo/proto/message';
import { deleteRedisPrefix, waitFor, type TestEnvironment } from '@im-repo/testing';
import {
  useMessageSuite,
  countAllRows,
  groupSend,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Every message of [1, upTo] through PullMessages pages of 200. */
async function pullAll(
  svc: MessageInstance,
  userId: string,
  conversationId: string,
  upTo = 0,
): Promise<{ messages: Message[]; maxSeqs: number[] }> {
  const messages: Message[] = [];
  const maxSeqs: number[] = [];
  let begin = 1;
  for (;;) {
    const page = await svc.client.pullMessages({
      userId,
      conversationId,
      beginSeq: begin,
      endSeq: upTo,
      limit: 200,
      descending: false,
    });
    maxSeqs.push(page.maxSeq);
    messages.push(...page.messages);
    if (page.messages.length < 200) return { messages, maxSeqs };
    begin = page.messages[page.messages.length - 1]!.seq + 1;
    if (upTo > 0 && begin > upTo) return { messages, maxSeqs };
  }
}

async function duplicatesCounted(svc: MessageInstance): Promise<number> {
  return (await svc.deps.messageMetrics.duplicates.get()).values[0]?.value ?? 0;
}

describe('SendMessage invariants under concurrency (two instances, one database)', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let a: MessageInstance;
  let b: MessageInstance;
  const instance = (i: number) => (i % 2 ? a : b);

  /** Two registered users, already known to both instances. */
  async function pair(): Promise<{ x: string; y: string; conversationId: string }> {
    const [x, y] = [uniqueId('px'), uniqueId('py')].sort() as [string, string];
    peers.data.users.add(x).add(y);
    // Notes to self warm the known-user sets without touching the x-y conversation.
    for (const svc of [a, b]) {
      await svc.client.sendMessage(textSend(x, x));
      await svc.client.sendMessage(textSend(y, y));
    }
    return { x, y, conversationId: `si_${x}_${y}` };
  }

  const suite = useMessageSuite('message-concurrency');
  before(async () => {
    ({ env, peers, svc: a } = await suite.start());
    b = await suite.service();
  });

  it('1,000 concurrent sends to one conversation get seqs exactly 1..1000, all readable in order', async function () {
    this.timeout(120_000);
    const { x, y, conversationId } = await pair();
    const requests = range(1, 1000).map((i) =>
      i % 3 ? textSend(x, y, { content: Buffer.from(`m${i}`) }) : textSend(y, x),
    );
    const results = await Promise.all(requests.map((r, i) => instance(i).client.sendMessage(r)));

    expect(results.every((r) => !r.duplicate)).to.equal(true);
    const seqs = results.map((r) => r.message!.seq).sort((p, q) => p - q);
    expect(seqs).to.deep.equal(range(1, 1000));
    expect(new Set(results.map((r) => r.message!.serverMsgId)).size).to.equal(1000);
    expect(new Set(results.map((r) => r.message!.conversationId))).to.deep.equal(
      new Set([conversationId]),
    );

    const { messages, maxSeqs } = await pullAll(a, x, conversationId);
    expect(maxSeqs.every((n) => n === 1000)).to.equal(true);
    expect(messages.map((m) => m.seq)).to.deep.equal(range(1, 1000));
    const bySeq = new Map(results.map((r) => [r.message!.seq, r.message!]));
    for (const m of messages) expect(m).to.deep.equal(bySeq.get(m.seq));

    for (const svc of [a, b]) {
      const { maxSeqs: got } = await svc.client.getMaxSeqs({ conversationIds: [conversationId] });
      expect(got[conversationId]).to.equal(1000);
      const { heads } = await svc.client.getConversationHeads({
        conversationIds: [conversationId],
        maxSeqOnlyIds: [],
      });
      expect(heads[0]!.maxSeq).to.equal(1000);
      expect(heads[0]!.lastMessage).to.deep.equal(bySeq.get(1000));
    }
    const [row] = (await a.deps.sequelize.query(
      'SELECT max_seq, (SELECT COUNT(*) FROM messages WHERE conversation_id = ?) AS n FROM conversation_seqs WHERE conversation_id = ?',
      { replacements: [conversationId, conversationId], type: 'SELECT' },
    )) as { max_seq: number; n: number }[];
    expect(Number(row!.max_seq)).to.equal(1000);
    expect(Number(row!.n)).to.equal(1000);
    const recordedSeqs = peers.data.recordCalls
      .flat()
      .filter((r) => r.conversationId === conversationId)
      .map((r) => r.seq)
      .sort((p, q) => p - q);
    expect(recordedSeqs).to.deep.equal(range(1, 1000));
  });

  it('200 concurrent sends of one client_msg_id: one seq, 199 duplicates of the same message', async function () {
    this.timeout(60_000);
    const { x, y, conversationId } = await pair();
    const clientMsgId = uniqueId('same');
    const dupsBefore = (await duplicatesCounted(a)) + (await duplicatesCounted(b));
    const results = await Promise.all(
      range(1, 200).map((i) =>
        instance(i).client.sendMessage(
          textSend(x, y, { clientMsgId, content: Buffer.from(`variant ${i}`) }),
        ),
      ),
    );
    const originals = results.filter((r) => !r.duplicate);
    expect(originals).to.have.length(1);
    expect(results.filter((r) => r.duplicate)).to.have.length(199);
    const original = originals[0]!.message!;
    expect(original.seq).to.equal(1);
    for (const r of results) expect(r.message).to.deep.equal(original);
    const dupsAfter = (await duplicatesCounted(a)) + (await duplicatesCounted(b));
    expect(dupsAfter - dupsBefore).to.equal(199);

    const { maxSeqs } = await b.client.getMaxSeqs({ conversationIds: [conversationId] });
    expect(maxSeqs[conversationId]).to.equal(1);
    const next = await a.client.sendMessage(textSend(y, x));
    expect(next.message!.seq).to.equal(2);
  });

  it('visibility: a poller during concurrent sends always finds messages 1..max_seq readable', async function () {
    this.timeout(120_000);
    const { x, y, conversationId } = await pair();
    let sending = true;
    const problems: string[] = [];
    const observed = new Set<number>();
    let last = 0;
    const seen = (n: number, via: string) => {
      if (n < last) problems.push(`${via} went back from ${last} to ${n}`);
      last = Math.max(last, n);
      observed.add(n);
    };
    const poller = (async () => {
      let i = 0;
      while (sending) {
        const reader = instance(i++);
        const { maxSeqs } = await reader.client.getMaxSeqs({ conversationIds: [conversationId] });
        const n = maxSeqs[conversationId] ?? 0;
        seen(n, 'GetMaxSeqs');
        if (n > 0) {
          const { messages } = await pullAll(instance(i), y, conversationId, n);
          const got = messages.map((m) => m.seq);
          if (JSON.stringify(got) !== JSON.stringify(range(1, n))) {
            problems.push(`max_seq ${n} but pulled ${got.length} messages`);
          }
        }
        const { heads } = await instance(i).client.getConversationHeads({
          conversationIds: [conversationId],
          maxSeqOnlyIds: [conversationId],
        });
        const head = heads[0];
        if (head) {
          seen(head.maxSeq, 'GetConversationHeads');
          if (head.lastMessage!.seq !== head.maxSeq) problems.push('head seq != max_seq');
          const { messages } = await pullAll(reader, x, conversationId, head.maxSeq);
          if (messages.length !== head.maxSeq) {
            problems.push(`head ${head.maxSeq} but pulled ${messages.length}`);
          }
          const at = messages[head.maxSeq - 1];
          if (at?.serverMsgId !== head.lastMessage!.serverMsgId)
            problems.push('head message differs');
        }
        // PullMessages' own max_seq: everything up to it is in the same answer's range.
        const latest = await reader.client.pullMessages({
          userId: x,
          conversationId,
          beginSeq: 0,
          endSeq: 0,
          limit: 1,
          descending: true,
        });
        seen(latest.maxSeq, 'PullMessages');
        if (latest.maxSeq > 0 && latest.messages[0]?.seq !== latest.maxSeq) {
          problems.push(`pull max_seq ${latest.maxSeq} without its message`);
        }
      }
    })();
    const results = [];
    try {
      for (let wave = 0; wave < 16; wave++) {
        results.push(
          ...(await Promise.all(
            range(1, 25).map((i) => instance(i).client.sendMessage(textSend(x, y))),
          )),
        );
      }
    } finally {
      sending = false;
      await poller;
    }
    expect(problems).to.deep.equal([]);
    expect(results.map((r) => r.message!.seq).sort((p, q) => p - q)).to.deep.equal(range(1, 400));
    // The poller really ran while the sends were landing.
    expect([...observed].filter((n) => n > 0 && n < 400).length).to.be.at.least(3);
  });

  it('a Redis flush mid-run: seqs continue from MySQL with no jump, repeat or gap; heads never go back', async function () {
    this.timeout(120_000);
    const { x, y, conversationId } = await pair();
    let sending = true;
    const readings: number[] = [];
    const poller = (async () => {
      let i = 0;
      while (sending) {
        const { maxSeqs } = await instance(i++).client.getMaxSeqs({
          conversationIds: [conversationId],
        });
        readings.push(maxSeqs[conversationId] ?? 0);
        const { heads } = await instance(i).client.getConversationHeads({
          conversationIds: [conversationId],
          maxSeqOnlyIds: [],
        });
        readings.push(heads[0]?.maxSeq ?? 0);
      }
    })();
    const results = [];
    let flushed = 0;
    try {
      for (let wave = 0; wave < 10; wave++) {
        const sends = Promise.all(
          range(1, 30).map((i) => instance(i).client.sendMessage(textSend(y, x))),
        );
        if (wave === 3 || wave === 6) flushed += await deleteRedisPrefix(env.redisPrefix);
        results.push(...(await sends));
      }
    } finally {
      sending = false;
      await poller;
    }
    expect(flushed).to.be.greaterThan(0);
    expect(results.map((r) => r.message!.seq).sort((p, q) => p - q)).to.deep.equal(range(1, 300));
    for (let i = 1; i < readings.length; i++) {
      expect(readings[i], `reading ${i} of ${readings.length}`).to.be.at.least(readings[i - 1]!);
    }
    expect(readings.length).to.be.greaterThan(4);

    // Flushed at rest: rebuilt from MySQL, and the next seq follows on.
    await deleteRedisPrefix(env.redisPrefix);
    for (const svc of [a, b]) {
      const { maxSeqs } = await svc.client.getMaxSeqs({ conversationIds: [conversationId] });
      expect(maxSeqs[conversationId]).to.equal(300);
    }
    const { heads } = await a.client.getConversationHeads({
      conversationIds: [conversationId],
      maxSeqOnlyIds: [],
    });
    expect(heads[0]!.lastMessage!.seq).to.equal(300);
    const next = await b.client.sendMessage(textSend(x, y));
    expect(next.message!.seq).to.equal(301);
    const { maxSeqs } = await a.client.getMaxSeqs({ conversationIds: [conversationId] });
    expect(maxSeqs[conversationId]).to.equal(301);
  });

  it('a group send writes the same rows for 2 members as for 2,000', async () => {
    const owner = uniqueId('owner');
    const small = uniqueId('small');
    const big = uniqueId('big');
    const members = (n: number) =>
      new Map(
        range(1, n).map((i) => [
          i === 1 ? owner : `${uniqueId('m')}-${i}`,
          { role: i === 1 ? GroupRole.GROUP_ROLE_OWNER : GroupRole.GROUP_ROLE_MEMBER },
        ]),
      );
    peers.data.groups.set(small, { members: members(2) });
    peers.data.groups.set(big, { members: members(2000) });
    // First sends create each conversation's seq row; the measured ones only add to it.
    await a.client.sendMessage(groupSend(owner, small));
    await a.client.sendMessage(groupSend(owner, big));

    // Delivered outbox rows are deleted in the background: count only once they are gone.
    const settledCounts = () =>
      waitFor(
        async () => {
          const counts = await countAllRows(a, env.dbName);
          return counts.message_outbox === 0 && counts;
        },
        { what: 'the outbox to drain' },
      );
    const before = await settledCounts();
    await a.client.sendMessage(groupSend(owner, small));
    const middle = await settledCounts();
    await a.client.sendMessage(groupSend(owner, big));
    const after = await settledCounts();

    const delta = (from: Record<string, number>, to: Record<string, number>) =>
      Object.fromEntries(Object.keys(to).map((t) => [t, to[t]! - (from[t] ?? 0)]));
    expect(delta(middle, after)).to.deep.equal(delta(before, middle));
    expect(delta(before, middle)).to.include({
      messages: 1,
      conversation_seqs: 0,
      message_outbox: 0,
    });
    const groupRecords = peers.data.recordCalls
      .flat()
      .filter((r) => r.conversationId === `sg_${big}`);
    expect(groupRecords).to.have.length(2);
  });
});
