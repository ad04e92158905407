import { GrpcStatus, decodeGrpcError, waitFor } from '@im-repo/testing';
import { singleConversationId } from '@im-repo/proto';
import { expect } from 'chai';
import { createSequelize } from '@im-repo/db';
import { useMessageSuite, textSend, uniqueId, type MessageInstance, type Peers } from './harness';

describe('overload: a stalled MySQL fills a bounded send queue, then OVERLOADED at once', function () {
  this.timeout(60_000);
  let peers: Peers;
  let svc: MessageInstance;

  const suite = useMessageSuite('msg-overload');
  before(async () => {
    ({ peers } = await suite.open());
    svc = await suite.service({
      // One batch of one send in flight, five waiting: the seventh send has no room.
      db: { pool_max: 3 },
      message: { batch_max_size: 1, send_queue_max: 5 },
    });
  });

  it('refuses sends beyond SEND_QUEUE_MAX with RESOURCE_EXHAUSTED OVERLOADED while the queue is full; the queued ones commit after', async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    peers.data.users.add(a).add(b);
    await svc.client.sendMessage(textSend(a, b));
    // Another session holds the conversation's seq row: every send to it stalls in MySQL.
    const other = createSequelize(svc.deps.config.db);
    const lock = await other.transaction();
    try {
      await other.query(
        'SELECT max_seq FROM conversation_seqs WHERE conversation_id = ? FOR UPDATE',
        {
          replacements: [singleConversationId(a, b)],
          transaction: lock,
        },
      );
      const outcomes: ({ ok: number } | { code: number; reason?: string })[] = [];
      const sends = Array.from({ length: 20 }, () =>
        svc.client.sendMessage(textSend(a, b)).then(
          (r) => outcomes.push({ ok: r.message!.seq }),
          (err: unknown) => {
            const e = decodeGrpcError(err);
            outcomes.push({ code: e.code, reason: e.reason ?? '' });
          },
        ),
      );
      // Answered while MySQL is still stalled: the refusals do not wait for it.
      await waitFor(() => outcomes.length >= 14, {
        timeoutMs: 20_000,
        what: '14 sends refused while the lock is held',
      });
      expect(outcomes).to.have.length(14);
      for (const o of outcomes) {
        expect(o).to.deep.equal({ code: GrpcStatus.RESOURCE_EXHAUSTED, reason: 'OVERLOADED' });
      }
      await lock.rollback();
      await Promise.all(sends);
      const seqs = outcomes.flatMap((o) => ('ok' in o ? [o.ok] : [])).sort((x, y) => x - y);
      expect(seqs).to.deep.equal([2, 3, 4, 5, 6, 7]);
    } finally {
      if (!(lock as unknown as { finished?: string }).finished) await lock.rollback();
      await other.close();
    }
    // And it serves normally again.
    expect((await svc.client.sendMessage(textSend(a, b))).message!.seq).to.equal(8);
  });
});
