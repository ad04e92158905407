import { expect } from 'chai';
import { Platform } from '@im-repo/proto/presence';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { bucketOf, devicesKey, dueKey, metaKey, userKey } from '../src/presence.cache-keys';
import { readScript } from '../src/presence.scripts';
import { usePresenceSuite, heartbeat, uniqueId, watch, type PresenceService } from './harness';

describe('PresenceService', () => {
  let svc: PresenceService;
  let other: PresenceService;

  const suite = usePresenceSuite('presence');
  before(async () => {
    [svc, other] = await Promise.all([suite.service(), suite.service()]);
  });

  describe('Heartbeat', () => {
    it('marks the device online until now + ttl and returns the full status', async () => {
      const userId = uniqueId();
      const { status } = await heartbeat(svc, userId, 'phone-1', Platform.PLATFORM_ANDROID, 30);
      expect(status).to.include({ userId, online: true });
      expect(status!.devices).to.have.length(1);
      const [device] = status!.devices;
      expect(device).to.include({ deviceId: 'phone-1', platform: Platform.PLATFORM_ANDROID });
      expect(device!.expiresAt!.getTime() - device!.lastHeartbeatAt!.getTime()).to.equal(30_000);
      expect(status!.lastSeenAt!.getTime()).to.equal(device!.lastHeartbeatAt!.getTime());
      expect(Math.abs(device!.lastHeartbeatAt!.getTime() - Date.now())).to.be.below(60_000);
    });

    it('uses the configured default ttl (60 s) when ttl_seconds is 0, and accepts 5 and 600', async () => {
      const userId = uniqueId();
      const ttlOf = async (deviceId: string, ttlSeconds: number) => {
        const { status } = await svc.client.heartbeat({
          userId,
          deviceId,
          platform: Platform.PLATFORM_WEB,
          ttlSeconds,
        });
        const d = status!.devices.find((x) => x.deviceId === deviceId)!;
        return d.expiresAt!.getTime() - d.lastHeartbeatAt!.getTime();
      };
      expect(await ttlOf('a', 0)).to.equal(60_000);
      expect(await ttlOf('b', 5)).to.equal(5_000);
      expect(await ttlOf('c', 600)).to.equal(600_000);
    });

    it('keeps several devices and platforms; a repeat updates the device in place', async () => {
      const userId = uniqueId();
      await heartbeat(svc, userId, 'web', Platform.PLATFORM_WEB);
      await heartbeat(other, userId, 'desk', Platform.PLATFORM_DESKTOP);
      await heartbeat(svc, userId, 'ipad', Platform.PLATFORM_IPAD);
      const { status } = await heartbeat(other, userId, 'web', Platform.PLATFORM_MINI_PROGRAM);
      expect(status!.devices.map((d) => [d.deviceId, d.platform])).to.deep.equal([
        ['desk', Platform.PLATFORM_DESKTOP],
        ['ipad', Platform.PLATFORM_IPAD],
        ['web', Platform.PLATFORM_MINI_PROGRAM],
      ]);
      const web = status!.devices.find((d) => d.deviceId === 'web')!;
      expect(status!.lastSeenAt!.getTime()).to.equal(web.lastHeartbeatAt!.getTime());
      // Read through the other instance: the state lives in Redis, not in a process.
      const { status: read } = await svc.client.getStatus({ userId });
      expect(read).to.deep.equal(status);
    });

    it('accepts 64 code point device ids (emoji count once) and any characters in them', async () => {
      const userId = uniqueId('Mixed-CASE');
      const long = '📱'.repeat(64);
      const odd = 'q"uote\\back/slash\nnew\u0000nul 设备';
      await heartbeat(svc, userId, long);
      const { status } = await heartbeat(other, userId, odd, Platform.PLATFORM_WEB);
      expect(status!.devices.map((d) => d.deviceId).sort()).to.deep.equal([long, odd].sort());
      const w = watch(svc, [userId]);
      await w.count(1);
      await other.client.setOffline({ userId, deviceId: long });
      const [event] = await w.count(2).then((e) => e.slice(1));
      expect(event!.devices.map((d) => d.deviceId)).to.deep.equal([odd]);
      w.cancel();
    });

    it('limits a user to presence.max_devices_per_user online devices (RESOURCE_EXHAUSTED TOO_MANY_DEVICES)', async () => {
      const MAX_DEVICES_PER_USER = svc.ctx.config.presence.max_devices_per_user;
      expect(MAX_DEVICES_PER_USER).to.equal(100);
      const userId = uniqueId();
      await Promise.all(
        Array.from({ length: MAX_DEVICES_PER_USER }, (_, i) => heartbeat(svc, userId, `d${i}`)),
      );
      const err = await expectGrpcError(
        heartbeat(svc, userId, 'one-too-many'),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'TOO_MANY_DEVICES',
      );
      expect(err.domain).to.equal('im.presence.v1');
      // A known device still refreshes; freeing a slot admits a new one.
      await heartbeat(svc, userId, 'd0');
      await svc.client.setOffline({ userId, deviceId: 'd1' });
      const { status } = await heartbeat(svc, userId, 'one-too-many');
      expect(status!.devices).to.have.length(MAX_DEVICES_PER_USER);
    });
  });

  describe('SetOffline', () => {
    it('of one device keeps the user online on the others and moves last_seen_at', async () => {
      const userId = uniqueId();
      await heartbeat(svc, userId, 'phone', Platform.PLATFORM_IOS);
      const { status: before } = await heartbeat(svc, userId, 'web', Platform.PLATFORM_WEB);
      const { status } = await other.client.setOffline({ userId, deviceId: 'phone' });
      expect(status!.online).to.equal(true);
      expect(status!.devices.map((d) => d.deviceId)).to.deep.equal(['web']);
      expect(status!.lastSeenAt!.getTime()).to.be.at.least(before!.lastSeenAt!.getTime());

      const { status: last } = await svc.client.setOffline({ userId, deviceId: 'web' });
      expect(last).to.include({ userId, online: false });
      expect(last!.devices).to.deep.equal([]);
      expect(last!.lastSeenAt).to.be.instanceOf(Date);
      expect((await other.client.getStatus({ userId })).status).to.deep.equal(last);
    });

    it('with an empty device_id takes every device offline', async () => {
      const userId = uniqueId();
      await heartbeat(svc, userId, 'a', Platform.PLATFORM_IOS);
      await heartbeat(svc, userId, 'b', Platform.PLATFORM_ANDROID);
      const { status } = await svc.client.setOffline({ userId, deviceId: '' });
      expect(status).to.include({ online: false });
      expect(status!.devices).to.deep.equal([]);
      expect((await svc.client.getStatus({ userId })).status!.online).to.equal(false);
    });

    it('of an unknown device, or of a never-seen user, changes nothing', async () => {
      const userId = uniqueId();
      const { status: before } = await heartbeat(svc, userId, 'a');
      const { status } = await svc.client.setOffline({ userId, deviceId: 'not-a-device' });
      expect(status).to.deep.equal(before);
      const ghost = uniqueId('ghost');
      const { status: none } = await svc.client.setOffline({ userId: ghost, deviceId: '' });
      expect(none).to.deep.equal({
        userId: ghost,
        online: false,
        devices: [],
        lastSeenAt: undefined,
      });
    });

    it('leaves no device keys or index entry behind, but keeps last_seen_at', async () => {
      const userId = uniqueId();
      const { status } = await heartbeat(svc, userId, 'a', Platform.PLATFORM_IOS, 45);
      const redis = svc.deps.redis;
      const expiresAt = status!.devices[0]!.expiresAt!.getTime();
      expect(Number(await redis.zscore(dueKey(bucketOf(userId)), userId))).to.equal(expiresAt);
      expect(await redis.exists(devicesKey(userId), metaKey(userId))).to.equal(2);
      // Every key of the user shares one hash tag, so one script can touch them all in a cluster.
      const tags = [
        devicesKey(userId),
        metaKey(userId),
        userKey(userId),
        dueKey(bucketOf(userId)),
      ].map((k) => /\{([^}]*)\}/.exec(k)![1]);
      expect(new Set(tags).size).to.equal(1);

      const { status: off } = await svc.client.setOffline({ userId, deviceId: '' });
      expect(await redis.zscore(dueKey(bucketOf(userId)), userId)).to.equal(null);
      expect(await redis.exists(devicesKey(userId), metaKey(userId))).to.equal(0);
      expect(Number(await redis.hget(userKey(userId), 'seen'))).to.equal(
        off!.lastSeenAt!.getTime(),
      );
    });
  });

  describe('GetStatus and BatchGetStatus', () => {
    it('a never-seen user is offline with no devices and no last_seen_at', async () => {
      const userId = uniqueId('never');
      const { status } = await svc.client.getStatus({ userId });
      expect(status).to.deep.equal({ userId, online: false, devices: [], lastSeenAt: undefined });
    });

    it('BatchGetStatus answers in request order, each duplicate in place', async () => {
      const [a, b, c] = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
      await heartbeat(svc, a, 'x', Platform.PLATFORM_IOS);
      await heartbeat(other, c, 'y', Platform.PLATFORM_WEB);
      await heartbeat(svc, b, 'z');
      await svc.client.setOffline({ userId: b, deviceId: 'z' });
      const never = uniqueId('never');
      const ids = [c, never, a, c, b, a];
      const { statuses } = await other.client.batchGetStatus({ userIds: ids });
      expect(statuses.map((s) => s.userId)).to.deep.equal(ids);
      expect(statuses.map((s) => s.online)).to.deep.equal([true, false, true, true, false, true]);
      expect(statuses[0]).to.deep.equal(statuses[3]);
      expect(statuses[2]!.devices[0]!.platform).to.equal(Platform.PLATFORM_IOS);
      expect(statuses[1]!.lastSeenAt).to.equal(undefined);
      expect(statuses[4]!.lastSeenAt).to.be.instanceOf(Date);
      expect((await svc.client.batchGetStatus({ userIds: [] })).statuses).to.deep.equal([]);
    });

    it('BatchGetStatus takes 1000 ids in one script call on a standalone Redis', async () => {
      const ids = Array.from({ length: 1000 }, (_, i) => `batch-${i}`);
      await Promise.all(ids.slice(0, 50).map((id) => heartbeat(svc, id)));
      // Count the read scripts (the cluster path, one per bucket, is covered by cluster.test.ts).
      const repo = (svc.deps.domain as unknown as { repo: { redis: object } }).repo;
      const real = repo.redis as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const calls: string[] = [];
      repo.redis = new Proxy(real, {
        get: (target, prop) =>
          prop === 'evalsha'
            ? (...args: unknown[]) => {
                // Only the read script: the sweeper shares the client.
                if (args[0] === readScript.sha) calls.push(prop);
                return target[prop]!.apply(target, args);
              }
            : Reflect.get(target, prop),
      });
      try {
        const { statuses } = await svc.client.batchGetStatus({ userIds: ids });
        expect(statuses.map((s) => s.userId)).to.deep.equal(ids);
        expect(statuses.filter((s) => s.online)).to.have.length(50);
        expect(calls).to.deep.equal(['evalsha']);
      } finally {
        repo.redis = real;
      }
    });
  });

  describe('validation', () => {
    const hb = (over: Partial<Parameters<PresenceService['client']['heartbeat']>[0]>) =>
      svc.client.heartbeat({
        userId: 'valid-user',
        deviceId: 'dev',
        platform: Platform.PLATFORM_IOS,
        ttlSeconds: 60,
        ...over,
      });

    const cases: [string, () => Promise<unknown>, string][] = [
      ['Heartbeat ttl 4', () => hb({ ttlSeconds: 4 }), 'ttl_seconds'],
      ['Heartbeat ttl 601', () => hb({ ttlSeconds: 601 }), 'ttl_seconds'],
      ['Heartbeat negative ttl', () => hb({ ttlSeconds: -5 }), 'ttl_seconds'],
      ['Heartbeat empty user_id', () => hb({ userId: '' }), 'user_id'],
      ['Heartbeat user_id with _', () => hb({ userId: 'bad_id' }), 'user_id'],
      ['Heartbeat 65 char user_id', () => hb({ userId: 'u'.repeat(65) }), 'user_id'],
      ['Heartbeat empty device_id', () => hb({ deviceId: '' }), 'device_id'],
      ['Heartbeat 65 code point device_id', () => hb({ deviceId: '📱'.repeat(65) }), 'device_id'],
      [
        'Heartbeat unspecified platform',
        () => hb({ platform: Platform.PLATFORM_UNSPECIFIED }),
        'platform',
      ],
      ['Heartbeat unknown platform', () => hb({ platform: 99 as Platform }), 'platform'],
      [
        'SetOffline empty user_id',
        () => svc.client.setOffline({ userId: '', deviceId: '' }),
        'user_id',
      ],
      [
        'SetOffline 65 char device_id',
        () => svc.client.setOffline({ userId: 'ok', deviceId: 'd'.repeat(65) }),
        'device_id',
      ],
      ['GetStatus empty user_id', () => svc.client.getStatus({ userId: '' }), 'user_id'],
      ['GetStatus bad user_id', () => svc.client.getStatus({ userId: 'a b' }), 'user_id'],
      [
        'BatchGetStatus 1001 ids',
        () =>
          svc.client.batchGetStatus({
            userIds: Array.from({ length: 1001 }, (_, i) => `x${i}`),
          }),
        'user_ids',
      ],
      [
        'BatchGetStatus an empty id in the list',
        () => svc.client.batchGetStatus({ userIds: ['ok', ''] }),
        'user_ids[1]',
      ],
      [
        'BatchGetStatus a bad id in the list',
        () => svc.client.batchGetStatus({ userIds: ['ok', 'fine', 'not_ok'] }),
        'user_ids[2]',
      ],
    ];
    for (const [name, call, field] of cases) {
      it(`${name} is INVALID_ARGUMENT (field ${field})`, async () => {
        const err = await expectGrpcError(call(), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
        expect(err.metadata.field).to.equal(field);
        expect(err.domain).to.equal('im.presence.v1');
      });
    }

    it('a rejected Heartbeat changes nothing', async () => {
      const userId = uniqueId();
      await expectGrpcError(hb({ userId, ttlSeconds: 601 }), GrpcStatus.INVALID_ARGUMENT);
      expect((await svc.client.getStatus({ userId })).status!.online).to.equal(false);
    });
  });
});
