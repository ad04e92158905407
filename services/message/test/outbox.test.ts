import { expect } from 'chai';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@im-repo/testing';
import {
  recorded,
  startMessageService,
  startPeers,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

describe('conversation records outbox', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: MessageInstance;

  before(async () => {
    env = await createTestEnvironment('message-outbox');
    peers = await startPeers();
    svc = await startMessageService(env, peers, { peers: { timeout_ms: 500 } });
  });

  after(async () => {
    peers.data.conversationDown = false;
    await svc?.stop();
    await peers?.stop();
    await env?.teardown();
  });

  async function users() {
    const [x, y] = [uniqueId('ox'), uniqueId('oy')].sort() as [string, string];
    peers.data.users.add(x).add(y);
    return { x, y, conversationId: `si_${x}_${y}` };
  }

  /** Records the instance tried to deliver inline, whatever the outcome. */
  const inlineRecords = async (instance: MessageInstance) => {
    const metric = await instance.deps.metrics.registry
      .getSingleMetric('message_conversation_records_total')!
      .get();
    return metric.values
      .filter((v) => v.labels.path === 'inline')
      .reduce((sum, v) => sum + v.value, 0);
  };

  const failedRecords = async (instance: MessageInstance, path: 'inline' | 'outbox') => {
    const metric = await instance.deps.metrics.registry
      .getSingleMetric('message_conversation_records_total')!
      .get();
    return metric.values
      .filter((v) => v.labels.path === path && v.labels.result === 'error')
      .reduce((sum, v) => sum + v.value, 0);
  };

  const recordedSeqs = (conversationId: string) =>
    recorded(peers.data)
      .filter((r) => r.conversationId === conversationId)
      .map((r) => r.seq)
      .sort((a, b) => a - b);

  it('sends succeed while the conversation service fails; the records arrive once it is back', async () => {
    const { x, y, conversationId } = await users();
    peers.data.conversationDown = true;
    let results;
    try {
      results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          svc.client.sendMessage(textSend(i % 2 ? x : y, i % 2 ? y : x)),
        ),
      );
      expect(results.map((r) => r.message!.seq).sort((a, b) => a - b)).to.deep.equal(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      expect(recordedSeqs(conversationId)).to.deep.equal([]);
      expect(await svc.deps.outbox.countPending()).to.equal(20);
      // The backlog is on /metrics, with the age of its oldest row.
      const exposition = await svc.deps.metrics.registry.metrics();
      expect(exposition).to.match(/outbox_backlog_rows\{table="message_outbox"\} 20\b/);
      expect(exposition).to.match(/outbox_oldest_age_seconds\{table="message_outbox"\} [0-9.e-]+/);
      // Once the peer failed, later sends do not wait on it inline (the drainer, meanwhile, is
      // retrying the failed batches' rows, so count the inline path's records, not the calls).
      const attempts = await inlineRecords(svc);
      await svc.client.sendMessage(textSend(x, y));
      expect(await inlineRecords(svc)).to.equal(attempts);
    } finally {
      peers.data.conversationDown = false;
    }
    await waitFor(() => recordedSeqs(conversationId).length === 21, {
      timeoutMs: 20_000,
      what: 'the outbox to deliver',
    });
    expect(recordedSeqs(conversationId)).to.deep.equal(Array.from({ length: 21 }, (_, i) => i + 1));
    await waitFor(async () => (await svc.deps.outbox.countPending()) === 0, {
      what: 'the outbox to empty',
    });
  });

  it('pending records survive a restart of the service and are delivered by the new instance', async () => {
    const { x, y, conversationId } = await users();
    peers.data.conversationDown = true;
    try {
      for (let i = 0; i < 5; i++) await svc.client.sendMessage(textSend(x, y));
      await svc.stop();
      svc = await startMessageService(env, peers, { peers: { timeout_ms: 500 } });
      expect(await svc.deps.outbox.countPending()).to.equal(5);
    } finally {
      peers.data.conversationDown = false;
    }
    await waitFor(() => recordedSeqs(conversationId).length === 5, {
      timeoutMs: 20_000,
      what: 'the restarted instance to deliver',
    });
    expect(recordedSeqs(conversationId)).to.deep.equal([1, 2, 3, 4, 5]);
    const delivered = recorded(peers.data).filter((r) => r.conversationId === conversationId);
    expect(delivered[0]).to.deep.include({ senderId: x, recipientId: y });
  });

  it('a failed call, inline or drained, hands its records back at once, not after its lease', async function () {
    this.timeout(60_000);
    // A 60 s deadline, so a lease of about 60 s: delivery within the 30 s below means each
    // failed call released its rows instead of leaving them leased. Its own database, so no
    // other instance's drainer takes (and fails) its rows.
    const own = await createTestEnvironment('message-outbox-release');
    const patient = await startMessageService(own, peers, { peers: { timeout_ms: 60_000 } });
    try {
      const { x, y, conversationId } = await users();
      peers.data.conversationDown = true;
      try {
        await patient.client.sendMessage(textSend(x, y)); // the inline attempt fails
        await waitFor(async () => (await failedRecords(patient, 'outbox')) > 0, {
          timeoutMs: 20_000,
          what: 'a drain attempt to fail too',
        });
      } finally {
        peers.data.conversationDown = false;
      }
      await waitFor(() => recordedSeqs(conversationId).length === 1, {
        timeoutMs: 30_000,
        what: 'the drainer to deliver before the lease ends',
      });
    } finally {
      await patient.stop();
      await own.teardown();
    }
  });

  it('two instances draining one outbox deliver each record once', async () => {
    const other = await startMessageService(env, peers, { peers: { timeout_ms: 500 } });
    try {
      const { x, y, conversationId } = await users();
      peers.data.conversationDown = true;
      try {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? svc : other).client.sendMessage(textSend(x, y)),
          ),
        );
      } finally {
        peers.data.conversationDown = false;
      }
      await waitFor(async () => (await svc.deps.outbox.countPending()) === 0, {
        timeoutMs: 20_000,
        what: 'the outbox to empty',
      });
      expect(recordedSeqs(conversationId)).to.deep.equal(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    } finally {
      await other.stop();
    }
  });
});
