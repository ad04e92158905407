import { expect } from 'chai';
import { Platform } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  decodeGrpcError,
  expectGrpcError,
  freePort,
  GrpcStatus,
  healthCheck,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { heartbeat, startPresenceService, uniqueId, watch, type PresenceService } from './harness';
import { RedisProxy } from './redis-proxy';

const SERVICE = 'im.presence.v1.PresenceService';
// One attempt per call: the test wants to see each failure, not grpc-js' retries of it.
const NO_RETRY = { maxAttempts: 1 };

describe('Redis down', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('presence-outage', { mysql: false });
  });

  after(async () => {
    await env?.teardown();
  });

  const everyRpcIsUnavailable = async (svc: PresenceService) => {
    const user = uniqueId();
    const calls: (() => Promise<unknown>)[] = [
      () => heartbeat(svc, user),
      () => svc.client.setOffline({ userId: user, deviceId: '' }),
      () => svc.client.getStatus({ userId: user }),
      () => svc.client.batchGetStatus({ userIds: [user, 'other'] }),
    ];
    for (const call of calls) {
      const err = await expectGrpcError(call(), GrpcStatus.UNAVAILABLE, 'REDIS_UNAVAILABLE');
      expect(err.domain).to.equal('im.presence.v1');
    }
    const w = watch(svc, [user]);
    const status = await w.closed();
    expect(status.code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(decodeGrpcError(w.error).reason).to.equal('REDIS_UNAVAILABLE');
    // Validation still comes first.
    await expectGrpcError(
      heartbeat(svc, user, 'd', Platform.PLATFORM_IOS, 4),
      GrpcStatus.INVALID_ARGUMENT,
    );
  };

  it('unreachable from the start: every rpc is UNAVAILABLE and health is NOT_SERVING', async () => {
    const port = await freePort();
    const svc = await startPresenceService(env, { redis: { port } }, NO_RETRY);
    try {
      await everyRpcIsUnavailable(svc);
      expect(await healthCheck(svc.address)).to.equal('NOT_SERVING');
      expect(await healthCheck(svc.address, SERVICE)).to.equal('NOT_SERVING');
    } finally {
      await svc.stop();
    }
  });

  it('lost and back: streams end UNAVAILABLE, calls fail fast, then everything recovers', async () => {
    const direct = await startPresenceService(env);
    const proxy = new RedisProxy({
      host: direct.deps.config.redis.host,
      port: direct.deps.config.redis.port,
    });
    await proxy.open();
    const svc = await startPresenceService(env, { redis: { port: proxy.port } }, NO_RETRY);
    try {
      const user = uniqueId();
      await heartbeat(svc, user, 'phone', Platform.PLATFORM_ANDROID);
      expect(await healthCheck(svc.address)).to.equal('SERVING');
      const before = watch(svc, [user]);
      await before.count(1);

      await proxy.cut();
      const status = await before.closed();
      expect(status.code).to.equal(GrpcStatus.UNAVAILABLE);
      await everyRpcIsUnavailable(svc);
      await waitFor(async () => (await healthCheck(svc.address, SERVICE)) === 'NOT_SERVING', {
        what: 'NOT_SERVING',
      });

      await proxy.restore();
      await waitFor(async () => (await healthCheck(svc.address, SERVICE)) === 'SERVING', {
        timeoutMs: 15_000,
        what: 'SERVING again',
      });
      // The state kept in Redis is all there; writes, reads and new streams work again.
      const { status: kept } = await svc.client.getStatus({ userId: user });
      expect(kept!.devices.map((d) => d.deviceId)).to.deep.equal(['phone']);
      const after = watch(svc, [user]);
      await after.count(1);
      await direct.client.setOffline({ userId: user, deviceId: 'phone' });
      await after.next((s) => !s.online, 'a change made elsewhere', 1);
      await heartbeat(svc, user, 'web', Platform.PLATFORM_WEB);
      await after.next((s) => s.online, 'a change made here', 2);
      after.cancel();
    } finally {
      await svc.stop();
      await proxy.cut();
      await direct.stop();
    }
  });
});
