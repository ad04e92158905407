import { expect } from 'chai';
import {
  createTestEnvironment,
  startRedisCluster,
  type LocalRedisCluster,
  type TestEnvironment,
} from '@im-repo/testing';
import {
  startMessageService,
  startPeers,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

// On Redis Cluster the head cache reads key by key (one slot each) instead of one script for
// the whole request: the same answers must come back.
describe('head cache on Redis Cluster', function () {
  this.timeout(60_000);
  let env: TestEnvironment;
  let cluster: LocalRedisCluster;
  let peers: Peers;
  let svc: MessageInstance;

  before(async () => {
    // Assigned one by one, so after() stops whatever started even when another part failed.
    await Promise.all([
      createTestEnvironment('message-cluster').then((e) => (env = e)),
      startRedisCluster().then((c) => (cluster = c)),
      startPeers().then((p) => (peers = p)),
    ]);
    svc = await startMessageService(env, peers, { redis: { cluster_nodes: cluster.nodes } });
  });
  after(async () => {
    await svc?.stop();
    await peers?.stop();
    await cluster?.stop();
    await env?.teardown();
  });

  it('serves max seqs and heads of conversations spread over the nodes', async () => {
    const pairs = Array.from({ length: 30 }, () => [uniqueId('cx'), uniqueId('cy')] as const);
    for (const [x, y] of pairs) peers.data.users.add(x).add(y);
    const sent = await Promise.all(
      pairs.map(async ([x, y], i) => {
        let last;
        for (let k = 0; k <= i % 3; k++) last = await svc.client.sendMessage(textSend(x, y));
        return last!.message!;
      }),
    );
    const ids = sent.map((m) => m.conversationId);
    const hits = async () => {
      const metric = await svc.deps.metrics.registry.getSingleMetric('cache_requests_total')!.get();
      return metric.values
        .filter((v) => v.labels.cache === 'message_head' && v.labels.result === 'hit')
        .reduce((sum, v) => sum + v.value, 0);
    };
    const hitsPerRound: number[] = [];
    for (let round = 0; round < 3; round++) {
      const before = await hits();
      // First filling the cache from MySQL, then from the cache, then from MySQL after a flush.
      const { maxSeqs } = await svc.client.getMaxSeqs({ conversationIds: [...ids, 'si_nobody_x'] });
      expect(ids.map((id) => maxSeqs[id])).to.deep.equal(sent.map((m) => m.seq));
      expect(maxSeqs['si_nobody_x']).to.equal(0);
      const { heads, maxSeqs: only } = await svc.client.getConversationHeads({
        conversationIds: ids,
        maxSeqOnlyIds: ids.slice(0, 5),
      });
      expect(heads.map((h) => h.lastMessage!.serverMsgId)).to.deep.equal(
        sent.map((m) => m.serverMsgId),
      );
      expect(Object.keys(only)).to.have.length(5);
      const pulled = await svc.client.pullMessages({
        userId: pairs[2]![0],
        conversationId: ids[2]!,
        beginSeq: 0,
        endSeq: 0,
        limit: 0,
        descending: false,
      });
      expect(pulled.maxSeq).to.equal(3);
      // The heads now live in Redis, spread over every node.
      expect((await cluster.dbsizes()).every((n) => n > 0)).to.equal(true);
      hitsPerRound.push((await hits()) - before);
      if (round === 1) await cluster.flushall();
    }
    // Round 1 was served from the cluster; rounds 0 and 2 mostly filled it from MySQL.
    expect(hitsPerRound[1]).to.be.greaterThan(hitsPerRound[0]! + 30);
    expect(hitsPerRound[1]).to.be.greaterThan(hitsPerRound[2]! + 30);
  });
});
