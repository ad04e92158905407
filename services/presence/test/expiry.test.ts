import { expect } from 'chai';
import { createRedis, waitForRedis } from '@im-repo/cache';
import { Platform } from '@im-repo/proto/presence';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@im-repo/testing';
import { bucketOf, dueKey, eventsChannel } from '../src/presence.cache-keys';
import { decodeStatus } from '../src/status-codec';
import type { UserStatusRecord } from '../src/presence.types';
import { heartbeat, startPresenceService, uniqueId, watch, type PresenceService } from './harness';

// The shortest TTL the API allows; every scenario waits for it in parallel with the others.
const TTL = 5;
const BOUND = { timeoutMs: TTL * 1000 + 4000 };

describe('TTL expiry', () => {
  let env: TestEnvironment;
  let lazyEnv: TestEnvironment;
  let a: PresenceService;
  let b: PresenceService;
  /** Alone on its own prefix, with its sweeper stopped: expiries are found only on demand. */
  let lazy: PresenceService;
  // Started in before() so that their TTL runs while the first test waits for its own.
  const [p, q] = [uniqueId('p'), uniqueId('q')];
  let lazyWatch: ReturnType<typeof watch>;

  before(async () => {
    [env, lazyEnv] = await Promise.all([
      createTestEnvironment('presence-expiry', { mysql: false }),
      createTestEnvironment('presence-lazy', { mysql: false }),
    ]);
    [a, b, lazy] = await Promise.all([
      startPresenceService(env),
      startPresenceService(env),
      startPresenceService(lazyEnv),
    ]);
    await lazy.deps.sweeper.stop();
    await heartbeat(lazy, p, 'old', Platform.PLATFORM_IOS, TTL);
    await heartbeat(lazy, q, 'old', Platform.PLATFORM_IOS, TTL);
    lazyWatch = watch(lazy, [p, q]);
    await lazyWatch.count(2);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), lazy?.stop()]);
    await Promise.all([env?.teardown(), lazyEnv?.teardown()]);
  });

  it('expires devices, announces each expiry exactly once across replicas, keeps last_seen_at', async () => {
    // Every announcement on the channel, straight from Redis.
    const raw = createRedis(a.deps.config.redis);
    const announced: UserStatusRecord[] = [];
    raw.on('message', (_channel: string, text: string) => announced.push(decodeStatus(text)));
    await waitForRedis(raw, 5000);
    await raw.subscribe(eventsChannel(env.redisPrefix));
    const of = (userId: string) => announced.filter((s) => s.userId === userId);

    try {
      await Promise.all([
        (async function oneDeviceGoesOffline() {
          const user = uniqueId('x');
          const w = watch(b, [user]);
          await w.count(1);
          const { status } = await heartbeat(a, user, 'phone', Platform.PLATFORM_IOS, TTL);
          // Nobody reads the user: the watcher hears of the expiry from a sweeper.
          const offline = await w.next((s) => !s.online, 'expiry', 1, BOUND.timeoutMs);
          expect(offline.devices).to.deep.equal([]);
          expect(offline.lastSeenAt!.getTime()).to.equal(status!.lastSeenAt!.getTime());
          const { status: read } = await a.client.getStatus({ userId: user });
          expect(read).to.deep.include({ online: false, devices: [] });
          expect(read!.lastSeenAt!.getTime()).to.equal(status!.lastSeenAt!.getTime());
          expect(await a.deps.redis.zscore(dueKey(bucketOf(user)), user)).to.equal(null);
          // Heartbeat, expiry: two announcements, whichever replicas swept.
          expect(of(user).map((s) => s.devices.length)).to.deep.equal([1, 0]);
          w.cancel();
        })(),

        (async function oneOfTwoDevicesExpires() {
          const user = uniqueId('y');
          await heartbeat(a, user, 'phone', Platform.PLATFORM_ANDROID, TTL);
          await heartbeat(b, user, 'desk', Platform.PLATFORM_DESKTOP, 600);
          const w = watch(a, [user]);
          await w.count(1);
          const after = await w.next(
            (s) => s.devices.length === 1,
            'phone expiry',
            1,
            BOUND.timeoutMs,
          );
          expect(after.online).to.equal(true);
          expect(after.devices.map((d) => d.deviceId)).to.deep.equal(['desk']);
          const { status } = await b.client.getStatus({ userId: user });
          expect(status!.devices.map((d) => d.deviceId)).to.deep.equal(['desk']);
          w.cancel();
        })(),

        (async function aRefreshExtendsTheDevice() {
          const user = uniqueId('z');
          const { status: first } = await heartbeat(a, user, 'web', Platform.PLATFORM_WEB, TTL);
          await heartbeat(b, user, 'web', Platform.PLATFORM_WEB, 600);
          const firstExpiry = first!.devices[0]!.expiresAt!.getTime();
          // A sentinel that expires after the first heartbeat would have: when it reads offline,
          // Redis' clock is past the first expiry.
          const sentinel = uniqueId('sentinel');
          await heartbeat(a, sentinel, 'x', Platform.PLATFORM_IOS, TTL);
          await waitFor(
            async () => !(await a.client.getStatus({ userId: sentinel })).status!.online,
            { ...BOUND, what: 'the sentinel to expire' },
          );
          const { status } = await a.client.getStatus({ userId: user });
          expect(status!.online).to.equal(true);
          expect(status!.devices[0]!.expiresAt!.getTime()).to.be.above(firstExpiry + 500_000);
        })(),
      ]);

      // Both replicas sweep the same buckets, yet each of the three expiries (x, y's phone, the
      // sentinel) was counted by exactly one.
      const expiredBy = async (svc: PresenceService) => {
        const text = await svc.deps.metrics.registry.getSingleMetricAsString(
          'presence_sweep_expired_users_total',
        );
        return Number(/ (\d+)$/m.exec(text)?.[1] ?? 0);
      };
      await waitFor(async () => (await expiredBy(a)) + (await expiredBy(b)) >= 3, BOUND);
      expect((await expiredBy(a)) + (await expiredBy(b))).to.equal(3);
      // Another pass of each finds nothing left.
      expect(await a.deps.sweeper.sweepOnce()).to.equal(0);
      expect(await b.deps.sweeper.sweepOnce()).to.equal(0);
    } finally {
      raw.disconnect();
    }
  });

  it('without a sweeper: reads leave expired devices out; the next write or sweep announces them', async () => {
    const w = lazyWatch;
    expect(w.events.map((s) => s.online)).to.deep.equal([true, true]);

    await waitFor(async () => !(await lazy.client.getStatus({ userId: p })).status!.online, {
      ...BOUND,
      what: 'p to read as offline',
    });
    expect((await lazy.client.getStatus({ userId: q })).status!.online).to.equal(false);
    // A read changes nothing and announces nothing (no sweeper runs on this prefix).
    expect(w.events).to.have.length(2);

    // A heartbeat on another device first announces the expiry it found, then the new device.
    await heartbeat(lazy, p, 'new', Platform.PLATFORM_WEB, 60);
    await w.next((s) => s.userId === p && s.online, 'p online again', 2);
    expect(
      w.events.filter((s) => s.userId === p).map((s) => s.devices.map((d) => d.deviceId)),
    ).to.deep.equal([['old'], [], ['new']]);

    // One sweep pass announces q's expiry (and only that).
    expect(await lazy.deps.sweeper.sweepOnce()).to.equal(1);
    await w.next((s) => s.userId === q && !s.online, 'q expiry', 2);
    expect(await lazy.deps.sweeper.sweepOnce()).to.equal(0);
    w.cancel();
  });
});
