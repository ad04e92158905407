import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import type { Message } from '@im-repo/proto/message';
import {
  deleteRedisPrefix,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { advanceScript } from '../src/head-cache';
import { headKey, seqKey } from '../src/message.cache-keys';
import {
  useMessageSuite,
  groupSend,
  startMessageService,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

const MALFORMED = [
  '',
  'si_x',
  'sg_',
  'zz_a_b',
  'si_a_b_c',
  'si_a_',
  'si__a',
  'sg_a_b',
  'si_a b_c',
  'sg_bad!',
  `sg_${'g'.repeat(65)}`,
];

async function cacheCount(svc: MessageInstance, result: string): Promise<number> {
  const metric = await svc.deps.metrics.registry.getSingleMetric('cache_requests_total')!.get();
  return (
    metric.values.find((v) => v.labels.cache === 'message_head' && v.labels.result === result)
      ?.value ?? 0
  );
}

describe('reads: PullMessages, GetMaxSeqs, GetConversationHeads', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: MessageInstance;
  const [x, y] = [uniqueId('rx'), uniqueId('ry')].sort() as [string, string];
  const stranger = uniqueId('str');
  const gid = uniqueId('rg');
  const single = `si_${x}_${y}`;
  const group = `sg_${gid}`;
  const sent: Message[] = [];

  const suite = useMessageSuite('message-reads');
  before(async () => {
    ({ env, peers } = await suite.open());
    for (const u of [x, y, stranger]) peers.data.users.add(u);
    peers.data.groups.set(gid, {
      members: new Map([
        [x, { role: GroupRole.GROUP_ROLE_OWNER }],
        [y, { role: GroupRole.GROUP_ROLE_MEMBER }],
      ]),
    });
    svc = await suite.service();
    for (let i = 1; i <= 10; i++) {
      const { message } = await svc.client.sendMessage(
        textSend(i % 2 ? x : y, i % 2 ? y : x, { content: Buffer.from(`msg ${i}`) }),
      );
      sent.push(message!);
    }
    for (let i = 1; i <= 3; i++) await svc.client.sendMessage(groupSend(y, gid));
  });

  const pull = (overrides: Partial<Parameters<typeof svc.client.pullMessages>[0]> = {}) =>
    svc.client.pullMessages({
      userId: x,
      conversationId: single,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
      ...overrides,
    });
  const seqs = (r: { messages: Message[] }) => r.messages.map((m) => m.seq);

  describe('PullMessages', () => {
    it('returns the whole conversation ascending by default, with max_seq', async () => {
      const r = await pull();
      expect(seqs(r)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(r.maxSeq).to.equal(10);
      expect(r.messages).to.deep.equal(sent);
    });

    it('reads inclusive ranges, limits, and newest-first with descending', async () => {
      expect(seqs(await pull({ beginSeq: 3, endSeq: 7 }))).to.deep.equal([3, 4, 5, 6, 7]);
      expect(seqs(await pull({ beginSeq: 3, endSeq: 7, limit: 2 }))).to.deep.equal([3, 4]);
      expect(seqs(await pull({ limit: 3, descending: true }))).to.deep.equal([10, 9, 8]);
      expect(
        seqs(await pull({ beginSeq: 2, endSeq: 6, limit: 2, descending: true })),
      ).to.deep.equal([6, 5]);
      expect(seqs(await pull({ beginSeq: 4, endSeq: 4 }))).to.deep.equal([4]);
    });

    it('clamps end_seq to max_seq; a range past the end is empty', async () => {
      const r = await pull({ beginSeq: 9, endSeq: 500 });
      expect(seqs(r)).to.deep.equal([9, 10]);
      expect(r.maxSeq).to.equal(10);
      const past = await pull({ beginSeq: 11 });
      expect(past.messages).to.deep.equal([]);
      expect(past.maxSeq).to.equal(10);
    });

    it('clamps limit to 200 and defaults it to 50', async () => {
      const [p, q] = [uniqueId('lp'), uniqueId('lq')].sort() as [string, string];
      peers.data.users.add(p).add(q);
      await Promise.all(Array.from({ length: 210 }, () => svc.client.sendMessage(textSend(p, q))));
      const conversationId = `si_${p}_${q}`;
      expect((await pull({ userId: p, conversationId, limit: 1000 })).messages).to.have.length(200);
      expect((await pull({ userId: p, conversationId })).messages).to.have.length(50);
      const newest = await pull({ userId: q, conversationId, descending: true });
      expect(seqs(newest)[0]).to.equal(210);
      expect(newest.messages).to.have.length(50);
    });

    it('an empty conversation of two participants is empty, max_seq 0, min_seq 1', async () => {
      const r = await pull({ conversationId: `si_${x}_${x}` });
      // Nothing readable: min_seq is max_seq + 1.
      expect(r).to.deep.equal({ messages: [], maxSeq: 0, minSeq: 1 });
    });

    it('lets group members read and refuses others', async () => {
      const r = await pull({ userId: y, conversationId: group });
      expect(seqs(r)).to.deep.equal([1, 2, 3]);
      await expectGrpcError(
        pull({ userId: stranger, conversationId: group }),
        GrpcStatus.PERMISSION_DENIED,
        'NOT_GROUP_MEMBER',
      );
      await expectGrpcError(
        pull({ conversationId: `sg_${gid}-unknown` }),
        GrpcStatus.NOT_FOUND,
        'GROUP_NOT_FOUND',
      );
    });

    it('refuses a user who is not one of the two participants', async () => {
      const err = await expectGrpcError(pull({ userId: stranger }), GrpcStatus.PERMISSION_DENIED);
      expect(err.domain).to.equal('im.message.v1');
    });

    for (const bad of [...MALFORMED, `si_${y}_${x}`]) {
      it(`conversation_id ${JSON.stringify(bad).slice(0, 24)} is INVALID_ARGUMENT`, async () => {
        const err = await expectGrpcError(
          pull({ conversationId: bad, userId: stranger }),
          GrpcStatus.INVALID_ARGUMENT,
          'INVALID_ARGUMENT',
        );
        expect(err.metadata.field).to.equal('conversation_id');
      });
    }

    const badFields: [string, Partial<Parameters<typeof svc.client.pullMessages>[0]>][] = [
      ['user_id', { userId: '' }],
      ['user_id', { userId: 'a_b' }],
      ['begin_seq', { beginSeq: -1 }],
      ['end_seq', { endSeq: -1 }],
      ['end_seq', { beginSeq: 5, endSeq: 3 }],
      ['limit', { limit: -1 }],
    ];
    for (const [field, req] of badFields) {
      it(`${JSON.stringify(req)} is INVALID_ARGUMENT naming ${field}`, async () => {
        const err = await expectGrpcError(pull(req), GrpcStatus.INVALID_ARGUMENT);
        expect(err.metadata.field).to.equal(field);
      });
    }
  });

  describe('GetMaxSeqs', () => {
    it('maps known conversations to max_seq and unknown ones to 0', async () => {
      const unknown = `si_${x}_${stranger}`;
      const { maxSeqs } = await svc.client.getMaxSeqs({
        conversationIds: [single, group, unknown, single],
      });
      expect(maxSeqs).to.deep.equal({ [single]: 10, [group]: 3, [unknown]: 0 });
      expect((await svc.client.getMaxSeqs({ conversationIds: [] })).maxSeqs).to.deep.equal({});
    });

    it('serves repeats from the head cache', async () => {
      await svc.client.getMaxSeqs({ conversationIds: [single] });
      const hits = await cacheCount(svc, 'hit');
      await svc.client.getMaxSeqs({ conversationIds: [single, group] });
      expect((await cacheCount(svc, 'hit')) - hits).to.equal(2);
    });

    it('takes 1000 ids, rejects 1001, and names a malformed id by index', async () => {
      const ids = Array.from({ length: 1000 }, (_, i) => `sg_g${i}`);
      const { maxSeqs } = await svc.client.getMaxSeqs({ conversationIds: ids });
      expect(Object.keys(maxSeqs)).to.have.length(1000);
      const e1 = await expectGrpcError(
        svc.client.getMaxSeqs({ conversationIds: [...ids, 'sg_x'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e1.metadata.field).to.equal('conversation_ids');
      const e2 = await expectGrpcError(
        svc.client.getMaxSeqs({ conversationIds: [single, group, `si_${y}_${x}`] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e2.metadata.field).to.equal('conversation_ids[2]');
    });
  });

  describe('GetConversationHeads', () => {
    it('returns max_seq and the last message of known conversations in request order', async () => {
      const { heads, maxSeqs } = await svc.client.getConversationHeads({
        conversationIds: [group, `sg_${gid}-none`, single],
        maxSeqOnlyIds: [],
      });
      expect(heads.map((h) => h.conversationId)).to.deep.equal([group, single]);
      expect(heads[1]).to.deep.equal({
        conversationId: single,
        maxSeq: 10,
        lastMessage: sent[9],
        lastMessageTruncated: false,
      });
      expect(heads[0]!.lastMessage!.seq).to.equal(heads[0]!.maxSeq);
      expect(maxSeqs).to.deep.equal({});
    });

    it('answers max_seq_only_ids in max_seqs (unknown 0), in the same call', async () => {
      const { heads, maxSeqs } = await svc.client.getConversationHeads({
        conversationIds: [single],
        maxSeqOnlyIds: [group, `sg_${gid}-none`],
      });
      expect(heads).to.have.length(1);
      expect(maxSeqs).to.deep.equal({ [group]: 3, [`sg_${gid}-none`]: 0 });
    });

    it('serves the same answers from the cache, from MySQL after a flush, and after a seq-only fill', async () => {
      const ask = () =>
        svc.client.getConversationHeads({ conversationIds: [single, group], maxSeqOnlyIds: [] });
      const cold = await ask();
      const hits = await cacheCount(svc, 'hit');
      expect(await ask()).to.deep.equal(cold);
      expect((await cacheCount(svc, 'hit')) - hits).to.equal(2);
      await deleteRedisPrefix(env.redisPrefix);
      // A max_seq-only read caches the seq without the message; heads then load the message.
      await svc.client.getMaxSeqs({ conversationIds: [single] });
      expect(await ask()).to.deep.equal(cold);
      expect(await ask()).to.deep.equal(cold);
    });

    it('takes 10000 max_seq_only_ids, rejects 10001, and names malformed ids by path', async () => {
      const ids = Array.from({ length: 10_000 }, (_, i) => `sg_h${i}`);
      const { maxSeqs } = await svc.client.getConversationHeads({
        conversationIds: [],
        maxSeqOnlyIds: ids,
      });
      expect(Object.keys(maxSeqs)).to.have.length(10_000);
      const e1 = await expectGrpcError(
        svc.client.getConversationHeads({ conversationIds: [], maxSeqOnlyIds: [...ids, 'sg_x'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e1.metadata.field).to.equal('max_seq_only_ids');
      const e2 = await expectGrpcError(
        svc.client.getConversationHeads({ conversationIds: [], maxSeqOnlyIds: [group, 'zz_a_b'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e2.metadata.field).to.equal('max_seq_only_ids[1]');
      const e3 = await expectGrpcError(
        svc.client.getConversationHeads({
          conversationIds: Array.from({ length: 1001 }, (_, i) => `sg_k${i}`),
          maxSeqOnlyIds: [],
        }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e3.metadata.field).to.equal('conversation_ids');
      const e4 = await expectGrpcError(
        svc.client.getConversationHeads({ conversationIds: ['sg_'], maxSeqOnlyIds: [] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e4.metadata.field).to.equal('conversation_ids[0]');
    });
  });

  describe('Redis trouble', () => {
    it('a seq key that outlived its head (evicted) is dropped by the next commit, never read behind it', async () => {
      const [p, q] = [uniqueId('ep'), uniqueId('eq')].sort() as [string, string];
      peers.data.users.add(p).add(q);
      const conversationId = `si_${p}_${q}`;
      const maxSeq = async () =>
        (await svc.client.getMaxSeqs({ conversationIds: [conversationId] })).maxSeqs[
          conversationId
        ];
      await svc.client.sendMessage(textSend(p, q));
      expect(await maxSeq()).to.equal(1);
      expect(await svc.deps.redis.get(seqKey(conversationId))).to.equal('1');
      // The hash goes (eviction picks keys one by one) and its seq key stays.
      await svc.deps.redis.del(headKey(conversationId));
      const { message } = await svc.client.sendMessage(textSend(q, p));
      expect(message!.seq).to.equal(2);
      // Read-your-writes: the sender's next read sees its commit, not the old seq key.
      expect(await maxSeq()).to.equal(2);
      const { heads } = await svc.client.getConversationHeads({
        conversationIds: [conversationId],
        maxSeqOnlyIds: [],
      });
      expect(heads[0]!.lastMessage!.seq).to.equal(2);
      // The reads refilled it from MySQL, and the seq key with it.
      expect(await svc.deps.redis.get(seqKey(conversationId))).to.equal('2');
    });

    it('a head that could not be advanced during a Redis blip is behind, never ahead, and catches up', async () => {
      const [p, q] = [uniqueId('bp'), uniqueId('bq')].sort() as [string, string];
      peers.data.users.add(p).add(q);
      const conversationId = `si_${p}_${q}`;
      await svc.client.sendMessage(textSend(p, q));
      const maxSeq = async () =>
        (await svc.client.getMaxSeqs({ conversationIds: [conversationId] })).maxSeqs[
          conversationId
        ];
      expect(await maxSeq()).to.equal(1);
      // Only the head's advance fails, as in a blip between the commit and the cache update.
      const redis = svc.deps.redis as unknown as { evalsha: (...a: unknown[]) => unknown };
      const real = redis.evalsha;
      redis.evalsha = (...args: unknown[]) =>
        args[0] === advanceScript.sha
          ? Promise.reject(new Error('Connection is closed.'))
          : real.apply(svc.deps.redis, args);
      try {
        const { message } = await svc.client.sendMessage(textSend(q, p));
        expect(message!.seq).to.equal(2);
        // Served from the cache, which is behind: allowed, unlike ahead.
        expect(await maxSeq()).to.equal(1);
      } finally {
        redis.evalsha = real;
      }
      await waitFor(async () => (await maxSeq()) === 2, { what: 'the head to catch up' });
      const { heads } = await svc.client.getConversationHeads({
        conversationIds: [conversationId],
        maxSeqOnlyIds: [],
      });
      expect(heads[0]!.lastMessage!.seq).to.equal(2);
    });
  });

  describe('with Redis unreachable', () => {
    let blind: MessageInstance;

    before(async () => {
      blind = await startMessageService(env, peers, {
        redis: { port: 1, command_timeout_ms: 200 },
      });
    });

    after(async () => {
      await blind?.stop();
    });

    it('sends and reads are served from MySQL, and the errors are counted', async () => {
      const before = await cacheCount(blind, 'error');
      const { message } = await blind.client.sendMessage(textSend(y, x));
      expect(message!.seq).to.equal(11);
      const { maxSeqs } = await blind.client.getMaxSeqs({ conversationIds: [single] });
      expect(maxSeqs[single]).to.equal(11);
      const { heads } = await blind.client.getConversationHeads({
        conversationIds: [single],
        maxSeqOnlyIds: [group],
      });
      expect(heads[0]!.lastMessage).to.deep.equal(message);
      expect(
        (
          await blind.client.pullMessages({
            userId: x,
            conversationId: single,
            beginSeq: 11,
            endSeq: 0,
            limit: 0,
            descending: false,
          })
        ).messages[0],
      ).to.deep.equal(message);
      expect((await cacheCount(blind, 'error')) - before).to.be.at.least(3);
    });
  });
});
