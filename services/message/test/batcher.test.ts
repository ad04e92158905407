import { expect } from 'chai';
import { createLogger } from '@im-repo/server-kit';
import { Registry } from 'prom-client';
import { waitFor, type TestEnvironment } from '@im-repo/testing';
import { createMessageMetrics } from '../src/message.metrics';
import { assertStorable, DUPLICATE_RACE, type CommitOutcome } from '../src/message.repository';
import {
  ConversationKind,
  MessageStatus,
  type MessageRecord,
  type SendInput,
  type SendResult,
} from '../src/message.types';
import { SendBatcher, type BatcherDeps } from '../src/send-batcher';
import { useMessageSuite, uniqueId, type MessageInstance, type Peers } from './harness';

function input(conversationId: string, overrides: Partial<SendInput> = {}): SendInput {
  return {
    clientMsgId: uniqueId('c'),
    senderId: 'alice',
    conversationType: ConversationKind.SINGLE,
    recipientId: 'bob',
    conversationId,
    contentType: 1,
    content: Buffer.from('x'),
    ...overrides,
  };
}

const settle = (p: Promise<SendResult>) =>
  p.then(
    (ok) => ({ ok }),
    (error: unknown) => ({ error }),
  );

describe('SendBatcher', () => {
  describe('batching rules (fake commit)', () => {
    const commits: SendInput[][] = [];
    let failWhen: (inputs: SendInput[]) => unknown = () => undefined;
    let maxSeq = 0;

    const fakeDeps = (): BatcherDeps => ({
      async commit(inputs) {
        commits.push(inputs);
        const failure = failWhen(inputs);
        if (failure) throw failure;
        const inserted: MessageRecord[] = inputs.map((i) => ({
          ...i,
          serverMsgId: uniqueId('s'),
          seq: ++maxSeq,
          status: MessageStatus.NORMAL,
          sentAt: new Date(),
        }));
        const outcome: CommitOutcome = {
          existing: new Map(),
          inserted,
          reserveSeconds: 0,
          enqueued: { rows: [], inline: [] },
        };
        return outcome;
      },
      newId: () => uniqueId('s'),
      assertStorable,
      afterCommit: async () => undefined,
      metrics: createMessageMetrics(new Registry()),
      logger: createLogger('test', 'error'),
    });

    beforeEach(() => {
      commits.length = 0;
      failWhen = () => undefined;
      maxSeq = 0;
    });

    it('commits everything waiting together, split at maxSize', async () => {
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 4,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const results = await Promise.all(
        Array.from({ length: 10 }, () => batcher.submit(input('si_a_b'))),
      );
      expect(commits.map((c) => c.length)).to.deep.equal([4, 4, 2]);
      expect(results.map((r) => r.message.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('splits at maxBytes, but a single large send still goes alone', async () => {
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 10,
        maxInflight: 1,
      });
      const big = (n: number) => input('si_a_b', { content: Buffer.alloc(n) });
      await Promise.all([big(4), big(4), big(4), big(30), big(1)].map((i) => batcher.submit(i)));
      expect(commits.map((c) => c.map((i) => i.content.length))).to.deep.equal([
        [4, 4],
        [4],
        [30],
        [1],
      ]);
    });

    it('answers copies of one key in a batch with the first one, as duplicates', async () => {
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const first = input('si_a_b', { clientMsgId: 'same' });
      const results = await Promise.all([
        batcher.submit(first),
        batcher.submit(input('si_a_b')),
        batcher.submit({ ...first, content: Buffer.from('other') }),
      ]);
      expect(commits).to.have.length(1);
      expect(commits[0]).to.have.length(2);
      expect(results[2]).to.deep.equal({ message: results[0]!.message, duplicate: true });
      expect(results[0]!.duplicate).to.equal(false);
    });

    it('after a failed batch commits its halves apart, so only the bad send fails and the rest keep group commit', async () => {
      const bad = input('si_a_b', { clientMsgId: 'bad' });
      failWhen = (inputs) =>
        inputs.some((i) => i.clientMsgId === 'bad') ? new Error('boom') : null;
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const inputs = Array.from({ length: 16 }, (_, i) => (i === 5 ? bad : input('si_a_b')));
      const results = await Promise.all(inputs.map((i) => settle(batcher.submit(i))));
      // 16 -> 8 (bad) -> 4 ok, 4 (bad) -> 2 (bad) -> 1 ok, 1 bad; then 2 ok, 8 ok: 9 commits, not 17.
      expect(commits.map((c) => c.length)).to.deep.equal([16, 8, 4, 4, 2, 1, 1, 2, 8]);
      expect((results[5] as { error: Error }).error.message).to.equal('boom');
      const seqs = results.flatMap((r) => ('ok' in r ? [r.ok.message.seq] : []));
      // Gapless and in arrival order.
      expect(seqs).to.deep.equal(Array.from({ length: 15 }, (_, i) => i + 1));
    });

    it('refuses a send the store could not hold before it joins a batch', async () => {
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const results = await Promise.all(
        [
          input('si_a_b'),
          input(`si_${'a'.repeat(70)}_${'b'.repeat(70)}`),
          input('si_a_b', { contentType: 99_999 }),
          input('si_a_b'),
        ].map((i) => settle(batcher.submit(i))),
      );
      expect(commits.map((c) => c.length)).to.deep.equal([2]);
      expect((results[1] as { error: { reason: string } }).error.reason).to.equal('VALUE_TOO_LONG');
      expect((results[2] as { error: { reason: string } }).error.reason).to.equal(
        'VALUE_OUT_OF_RANGE',
      );
    });

    it('does not retry one by one when the database is unreachable', async () => {
      failWhen = () => Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' });
      const batcher = new SendBatcher(fakeDeps(), {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const results = await Promise.all(
        [input('si_a_b'), input('si_a_b')].map((i) => settle(batcher.submit(i))),
      );
      expect(commits).to.have.length(1);
      expect(results.every((r) => 'error' in r)).to.equal(true);
    });

    it('redoes a batch that lost a key to another replica', async () => {
      let raced = false;
      const deps = fakeDeps();
      const real = deps.commit;
      deps.commit = async (inputs, options) => {
        if (!raced) {
          raced = true;
          return DUPLICATE_RACE;
        }
        return real(inputs, options);
      };
      const batcher = new SendBatcher(deps, {
        maxSize: 100,
        maxWaitMs: 50,
        maxBytes: 1 << 20,
        maxInflight: 1,
      });
      const result = await batcher.submit(input('si_a_b'));
      expect(raced).to.equal(true);
      expect(result.message.seq).to.equal(1);
    });

    it('lets several batches commit at once up to maxInflight, and close() waits for them', async () => {
      let running = 0;
      let peak = 0;
      const deps = fakeDeps();
      const real = deps.commit;
      deps.commit = async (inputs, options) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return real(inputs, options);
      };
      const batcher = new SendBatcher(deps, {
        maxSize: 2,
        maxWaitMs: 1,
        maxBytes: 1 << 20,
        maxInflight: 3,
      });
      const pending = Array.from({ length: 12 }, () => batcher.submit(input('si_a_b')));
      await batcher.close();
      expect(running).to.equal(0);
      expect(peak).to.equal(3);
      expect((await Promise.all(pending)).length).to.equal(12);
      const late = await settle(batcher.submit(input('si_a_b')));
      expect('error' in late).to.equal(true);
    });
  });

  describe('against MariaDB', () => {
    let env: TestEnvironment;
    let peers: Peers;
    let svc: MessageInstance;

    const suite = useMessageSuite('message-batcher');
    before(async () => {
      ({ env, peers } = await suite.open());
      // A long wait makes every send submitted in one tick share a batch.
      svc = await suite.service({ message: { batch_max_wait_ms: 300 } });
    });

    const batches = async () =>
      (await svc.deps.messageMetrics.batchSize.get()).values.find(
        (v) => v.metricName === 'message_send_batch_size_count',
      )?.value ?? 0;

    it('a batch holding an unstorable and a duplicate message still commits the valid ones, gapless', async () => {
      const conversationId = `si_${uniqueId('a')}_${uniqueId('b')}`;
      const earlier = await svc.deps.batcher.submit(input(conversationId));
      expect(earlier.message.seq).to.equal(1);
      const batchesBefore = await batches();
      const callsBefore = peers.data.recordCalls.length;

      const first = input(conversationId);
      const [valid1, invalid, duplicate, copy, valid2] = await Promise.all(
        [
          first,
          // SMALLINT overflow: refused before it joins the batch (MariaDB would fail the INSERT).
          input(conversationId, { contentType: 99_999 }),
          { ...input(conversationId), clientMsgId: earlier.message.clientMsgId },
          { ...first, content: Buffer.from('copy') },
          input(conversationId),
        ].map((i) => settle(svc.deps.batcher.submit(i))),
      );
      expect((await batches()) - batchesBefore).to.equal(1);
      expect('error' in invalid!).to.equal(true);
      const ok = (r: typeof valid1) => (r as { ok: SendResult }).ok;
      expect(ok(valid1).message.seq).to.equal(2);
      expect(ok(valid2).message.seq).to.equal(3);
      expect(ok(duplicate)).to.deep.equal({ message: earlier.message, duplicate: true });
      expect(ok(copy)).to.deep.equal({ message: ok(valid1).message, duplicate: true });
      expect((await svc.deps.repository.maxSeqs([conversationId])).get(conversationId)).to.equal(3);
      const { messages: pulled } = await svc.deps.repository.pull(
        { conversationId, beginSeq: 1, endSeq: 10, limit: 10, descending: false },
        earlier.message.senderId,
        { maxBytes: 1 << 20, perMessage: 0 },
      );
      expect(pulled.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
      // The committed ones are recorded together, once.
      const calls = peers.data.recordCalls.slice(callsBefore);
      expect(calls.map((c) => c.map((r) => r.seq))).to.deep.equal([[2, 3]]);
    });

    it('a duplicate committed by another replica mid-transaction: rollback, redo, original returned, seqs gapless', async () => {
      const conversationId = `si_${uniqueId('a')}_${uniqueId('b')}`;
      const racing = input(`si_${uniqueId('r')}_${uniqueId('s')}`);
      await svc.deps.batcher.submit(input(conversationId));
      await svc.deps.batcher.submit(input(racing.conversationId));

      // Another "replica": its open transaction holds the racing key (at a seq of its own).
      const t = await svc.deps.sequelize.transaction();
      try {
        await svc.deps.sequelize.query(
          `INSERT INTO messages (conversation_id, seq, server_msg_id, client_msg_id, conversation_type,
             sender_id, recipient_id, content_type, content, status, sent_at)
           VALUES (?, 99, 'RACER', ?, 1, ?, ?, 1, 'theirs', 1, UTC_TIMESTAMP(3))`,
          {
            replacements: [
              racing.conversationId,
              Buffer.from(racing.clientMsgId),
              racing.senderId,
              racing.recipientId,
            ],
            transaction: t,
          },
        );
        const ours = [input(conversationId), racing, input(conversationId)].map((i) =>
          svc.deps.batcher.submit(i),
        );
        // Our batch checked, found nothing, reserved seqs, and now waits on the racing key.
        await waitFor(
          async () => {
            const rows = (await svc.deps.sequelize.query(
              `SELECT ID FROM information_schema.PROCESSLIST
               WHERE DB = ? AND INFO LIKE 'INSERT INTO messages%'`,
              { replacements: [env.dbName], type: 'SELECT' },
            )) as unknown[];
            return rows.length > 0;
          },
          { what: 'the batch to wait on the racing key' },
        );
        await t.commit();
        const [r1, r2, r3] = await Promise.all(ours);
        expect(r2!.duplicate).to.equal(true);
        expect(r2!.message.serverMsgId).to.equal('RACER');
        expect(r2!.message.content.toString()).to.equal('theirs');
        expect([r1!.message.seq, r3!.message.seq]).to.deep.equal([2, 3]);
        // The rolled-back reservations came back: no gaps on either conversation.
        expect((await svc.deps.repository.maxSeqs([conversationId])).get(conversationId)).to.equal(
          3,
        );
        expect(
          (await svc.deps.repository.maxSeqs([racing.conversationId])).get(racing.conversationId),
        ).to.equal(1);
      } finally {
        await t.rollback().catch(() => undefined);
      }
    });
  });
});
