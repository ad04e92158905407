import { expect } from 'chai';
import { select } from '@im-repo/db';
import { MessageStatus, type Message } from '@im-repo/proto/message';
import {
  deleteRedisPrefix,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { useMessageSuite, textSend, uniqueId, type MessageInstance, type Peers } from './harness';

/** The window of these tests; the contract's bound is 10 s after it, asserted 10 times looser. */
const WINDOW_S = 2;
const EXPIRY_BOUND_MS = 100_000;

describe('retention: MESSAGE_RETENTION_SECONDS (two replicas running the job)', function () {
  this.timeout(240_000);
  let env: TestEnvironment;
  let peers: Peers;
  let a: MessageInstance;
  let b: MessageInstance;

  const suite = useMessageSuite('message-retention');
  before(async () => {
    ({ env, peers } = await suite.open());
    const on = { message: { retention_seconds: WINDOW_S } };
    a = await suite.service(on);
    b = await suite.service(on);
  });

  const pair = () => {
    const [x, y] = [uniqueId('rtx'), uniqueId('rty')].sort() as [string, string];
    peers.data.users.add(x);
    peers.data.users.add(y);
    return { x, y, id: `si_${x}_${y}` };
  };
  const pull = (svc: MessageInstance, userId: string, conversationId: string, beginSeq = 0) =>
    svc.client.pullMessages({
      userId,
      conversationId,
      beginSeq,
      endSeq: 0,
      limit: 200,
      descending: false,
    });
  const head = async (svc: MessageInstance, id: string) =>
    (await svc.client.getConversationHeads({ conversationIds: [id], maxSeqOnlyIds: [] })).heads[0];
  const dbNow = async (svc: MessageInstance) =>
    (await select<{ now: Date }>(svc.deps.sequelize, 'SELECT UTC_TIMESTAMP(3) AS now'))[0]!.now;
  const rows = (svc: MessageInstance, id: string) =>
    select<{ seq: number; status: number; bytes: number }>(
      svc.deps.sequelize,
      `SELECT seq, status, LENGTH(content) AS bytes FROM messages
       WHERE conversation_id = ? ORDER BY seq`,
      [id],
    );

  it('expired messages leave reads; seqs, max_seq and heads’ max_seq stay; new seqs continue', async () => {
    const { x, y, id } = pair();
    const sent: Message[] = [];
    for (let i = 0; i < 3; i++) sent.push((await a.client.sendMessage(textSend(x, y))).message!);
    expect((await head(a, id))!.lastMessage).to.deep.equal(sent[2]); // cached before expiry

    const gone = await waitFor(
      async () => {
        const r = await pull(b, y, id);
        return r.messages.length === 0 && r;
      },
      { timeoutMs: EXPIRY_BOUND_MS, intervalMs: 200, what: 'the messages to expire' },
    );
    expect(gone).to.deep.equal({ messages: [], maxSeq: 3, minSeq: 4 });
    // Heads keep max_seq and lose the expired last message, from the cache and from MySQL.
    const expectExpiredHead = async (svc: MessageInstance) => {
      const h = await head(svc, id);
      expect(h).to.deep.include({ conversationId: id, maxSeq: 3, lastMessageTruncated: false });
      expect(h!.lastMessage).to.equal(undefined);
    };
    await expectExpiredHead(a);
    await expectExpiredHead(b);
    await deleteRedisPrefix(env.redisPrefix);
    await expectExpiredHead(a);
    await expectExpiredHead(b);
    expect(await a.client.getMaxSeqs({ conversationIds: [id] })).to.deep.equal({
      maxSeqs: { [id]: 3 },
    });
    // The content is gone from MySQL; the rows (seq, idempotency key) stay.
    expect(await rows(a, id)).to.deep.equal(
      [1, 2, 3].map((seq) => ({ seq, status: MessageStatus.MESSAGE_STATUS_EXPIRED, bytes: 0 })),
    );

    // Seqs are never reused.
    const { message: next } = await b.client.sendMessage(textSend(y, x));
    expect(next!.seq).to.equal(4);
    expect(await pull(a, x, id)).to.deep.equal({ messages: [next], maxSeq: 4, minSeq: 4 });
    expect((await head(a, id))!.lastMessage).to.deep.equal(next);
  });

  it('idempotency outlives retention: a repeat returns the original seq, EXPIRED, no content', async () => {
    const { x, y, id } = pair();
    const req = textSend(x, y, { content: Buffer.from('to be forgotten') });
    const { message: original } = await a.client.sendMessage(req);
    await waitFor(async () => (await pull(a, x, id)).messages.length === 0, {
      timeoutMs: EXPIRY_BOUND_MS,
      intervalMs: 200,
      what: 'the message to expire',
    });
    for (const svc of [a, b]) {
      const repeat = await svc.client.sendMessage({ ...req, content: Buffer.from('other') });
      expect(repeat).to.deep.equal({
        duplicate: true,
        message: {
          ...original,
          status: MessageStatus.MESSAGE_STATUS_EXPIRED,
          content: Buffer.alloc(0),
        },
      });
    }
    expect((await a.client.getMaxSeqs({ conversationIds: [id] })).maxSeqs[id]).to.equal(1);
  });

  it('RecallMessage of an expired message: FAILED_PRECONDITION MESSAGE_EXPIRED', async () => {
    const { x, y, id } = pair();
    const { message } = await a.client.sendMessage(textSend(x, y));
    await waitFor(async () => (await pull(a, x, id)).messages.length === 0, {
      timeoutMs: EXPIRY_BOUND_MS,
      intervalMs: 200,
      what: 'the message to expire',
    });
    await expectGrpcError(
      b.client.recallMessage({ operatorId: x, conversationId: id, seq: message!.seq }),
      GrpcStatus.FAILED_PRECONDITION,
      'MESSAGE_EXPIRED',
    );
    expect(await rows(a, id)).to.deep.equal([
      { seq: 1, status: MessageStatus.MESSAGE_STATUS_EXPIRED, bytes: 0 },
    ]);
  });

  it('a cleared floor and expiry together: min_seq is the higher of the two, per user', async () => {
    const { x, y, id } = pair();
    await a.client.sendMessage(textSend(x, y));
    await a.client.sendMessage(textSend(x, y));
    await waitFor(async () => (await pull(a, y, id)).minSeq === 3, {
      timeoutMs: EXPIRY_BOUND_MS,
      intervalMs: 200,
      what: 'seqs 1-2 to expire',
    });
    await a.client.sendMessage(textSend(y, x));
    await a.client.sendMessage(textSend(y, x));
    expect(await b.client.clearHistory({ userId: x, conversationId: id })).to.deep.equal({
      clearedSeq: 4,
    });
    expect(await pull(a, x, id)).to.deep.include({ messages: [], minSeq: 5, maxSeq: 4 });
    const theirs = await pull(a, y, id);
    expect(theirs.messages.map((m) => m.seq)).to.deep.equal([3, 4]);
    expect(theirs.minSeq).to.equal(3);
  });

  it('racing concurrent sends into one conversation: what remains is gapless and nothing inside the window goes', async () => {
    const { x, y, id } = pair();
    const sentAt = new Map<number, number>();
    let sending = true;
    const senders = [a, b].map(async (svc, i) => {
      while (sending) {
        const { message } = await svc.client.sendMessage(i ? textSend(y, x) : textSend(x, y));
        sentAt.set(message!.seq, message!.sentAt!.getTime());
        // About 20 sends a second: the window and the job's lag hold far fewer than 200.
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    let polls = 0;
    let expiredSeen = 0;
    const deadline = Date.now() + 4 * WINDOW_S * 1000 + 4000;
    try {
      while (Date.now() < deadline) {
        const r = await pull(polls % 2 ? a : b, x, id);
        const now = (await dbNow(a)).getTime();
        polls++;
        const seqs = r.messages.map((m) => m.seq);
        // Gapless: exactly min_seq..max_seq is readable (the window holds far fewer than 200).
        expect(seqs).to.deep.equal(
          Array.from({ length: r.maxSeq - r.minSeq + 1 }, (_, k) => r.minSeq + k),
        );
        // Only what passed the window (on the database clock) is gone.
        for (let seq = 1; seq < r.minSeq; seq++) {
          const at = sentAt.get(seq);
          if (at !== undefined) expect(at, `seq ${seq}`).to.be.below(now - WINDOW_S * 1000);
        }
        expiredSeen = Math.max(expiredSeen, r.minSeq - 1);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      sending = false;
      await Promise.all(senders);
    }
    // The job really raced the sends.
    expect(expiredSeen).to.be.above(20);
    const last = await rows(a, id);
    expect(last.map((r) => r.seq)).to.deep.equal(last.map((_, k) => k + 1));
    // Expired rows are a prefix: a watermark, never a hole.
    const firstLive = last.findIndex((r) => r.status !== MessageStatus.MESSAGE_STATUS_EXPIRED);
    expect(
      last.slice(firstLive === -1 ? last.length : firstLive).map((r) => r.status),
    ).to.not.include(MessageStatus.MESSAGE_STATUS_EXPIRED);
  });
});

describe('retention off (MESSAGE_RETENTION_SECONDS=0)', () => {
  let peers: Peers;
  let svc: MessageInstance;

  const suite = useMessageSuite('message-retention-off');
  before(async () => {
    ({ peers, svc } = await suite.start());
  });

  it('keeps messages forever: the job never runs and min_seq stays 1', async () => {
    const [x, y] = [uniqueId('rox'), uniqueId('roy')].sort() as [string, string];
    peers.data.users.add(x);
    peers.data.users.add(y);
    await svc.client.sendMessage(textSend(x, y));
    await select(svc.deps.sequelize, "UPDATE messages SET sent_at = '2000-01-01'");
    expect(svc.deps.retention.enabled).to.equal(false);
    expect(await svc.deps.retention.runOnce()).to.equal(0);
    const r = await svc.client.pullMessages({
      userId: x,
      conversationId: `si_${x}_${y}`,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
    });
    expect(r.messages.map((m) => m.seq)).to.deep.equal([1]);
    expect(r.minSeq).to.equal(1);
  });
});
