import { expect } from 'chai';
import { Platform } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  startRedisCluster,
  waitFor,
  type LocalRedisCluster,
  type TestEnvironment,
} from '@im-repo/testing';
import { bucketOf } from '../src/presence.cache-keys';
import { heartbeat, startPresenceService, uniqueId, watch, type PresenceService } from './harness';

describe('on Redis Cluster', function () {
  this.timeout(60_000);
  let env: TestEnvironment;
  let cluster: LocalRedisCluster | undefined;
  let a: PresenceService;
  let b: PresenceService;

  before(async () => {
    env = await createTestEnvironment('presence-cluster', { mysql: false });
    cluster = await startRedisCluster();
    const overrides = { redis: { cluster_nodes: cluster.nodes } };
    [a, b] = await Promise.all([
      startPresenceService(env, overrides),
      startPresenceService(env, overrides),
    ]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
    await env?.teardown();
  });

  it('serves every rpc with keys spread over the nodes, and watches across replicas', async () => {
    const users = Array.from({ length: 200 }, () => uniqueId('cl'));
    expect(new Set(users.map(bucketOf)).size).to.be.above(40);
    const watched = users[0]!;
    const w = watch(b, [watched, users[1]!]);
    await w.count(2);

    await Promise.all(
      users.map((u, i) => heartbeat(i % 2 ? a : b, u, 'phone', Platform.PLATFORM_IOS, 120)),
    );
    await heartbeat(a, watched, 'web', Platform.PLATFORM_WEB, 120);
    expect((await cluster!.dbsizes()).every((n) => n > 0)).to.equal(true);

    const ids = [...users.slice(0, 150), users[3]!, 'never-seen-here'];
    const { statuses } = await a.client.batchGetStatus({ userIds: ids });
    expect(statuses.map((s) => s.userId)).to.deep.equal(ids);
    expect(statuses.map((s) => s.online)).to.deep.equal([
      ...ids.map(() => true).slice(0, -1),
      false,
    ]);

    await w.next((s) => s.userId === watched && s.devices.length === 2, 'two devices');
    const { status } = await b.client.setOffline({ userId: watched, deviceId: 'phone' });
    expect(status!.devices.map((d) => d.deviceId)).to.deep.equal(['web']);
    await a.client.setOffline({ userId: watched, deviceId: '' });
    await w.next((s) => s.userId === watched && !s.online, 'offline');
    w.cancel();
  });

  it('sweeps expiries in every slot and announces them to watchers on other nodes', async () => {
    const users = Array.from({ length: 20 }, () => uniqueId('ttl'));
    const w = watch(a, users);
    await w.count(users.length);
    await Promise.all(users.map((u) => heartbeat(b, u, 'phone', Platform.PLATFORM_ANDROID, 5)));
    await waitFor(() => users.every((u) => w.events.some((s) => s.userId === u && s.online)), {
      what: 'every user online',
    });
    await waitFor(
      () =>
        users.every((u) => {
          const last = w.events.filter((s) => s.userId === u).at(-1);
          return last && !last.online;
        }),
      { timeoutMs: 10_000, what: 'every expiry announced' },
    );
    const { statuses } = await b.client.batchGetStatus({ userIds: users });
    expect(statuses.every((s) => !s.online && s.lastSeenAt instanceof Date)).to.equal(true);
    w.cancel();
  });
});
