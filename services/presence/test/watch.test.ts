import { expect } from 'chai';
import { Platform } from '@im-repo/proto/presence';
import {
  deleteRedisPrefix,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { eventsChannel } from '../src/presence.cache-keys';
import {
  usePresenceSuite,
  heartbeat,
  startPresenceService,
  uniqueId,
  watch,
  type PresenceService,
} from './harness';

describe('WatchStatus', () => {
  let env: TestEnvironment;
  let a: PresenceService;
  let b: PresenceService;

  const suite = usePresenceSuite('presence-watch');
  before(async () => {
    ({ env } = await suite.open());
    [a, b] = await Promise.all([suite.service(), suite.service()]);
  });

  it('sends the current status of each user first (request order, duplicates collapsed)', async () => {
    const [on, off, never] = [uniqueId('on'), uniqueId('off'), uniqueId('never')];
    await heartbeat(a, on, 'phone', Platform.PLATFORM_ANDROID);
    await heartbeat(b, off, 'web', Platform.PLATFORM_WEB);
    await a.client.setOffline({ userId: off, deviceId: '' });
    const w = watch(a, [never, on, off, on, never]);
    const events = await w.count(3);
    expect(events.map((s) => s.userId)).to.deep.equal([never, on, off]);
    expect(events.map((s) => s.online)).to.deep.equal([false, true, false]);
    expect(events[1]!.devices[0]).to.include({
      deviceId: 'phone',
      platform: Platform.PLATFORM_ANDROID,
    });
    expect(events[0]!.lastSeenAt).to.equal(undefined);
    expect(events[2]!.lastSeenAt).to.be.instanceOf(Date);
    // One change later, exactly one more message: nothing was sent twice in between. (Events
    // of one user arrive in the order of the changes, so a change is a barrier.)
    await heartbeat(b, off, 'web', Platform.PLATFORM_WEB);
    await w.next((s) => s.userId === off && s.online, 'off going online', 3);
    expect(w.events).to.have.length(4);
    w.cancel();
  });

  it('sees online and offline changes made through another instance', async () => {
    const user = uniqueId();
    const w = watch(a, [user]);
    await w.count(1);
    expect(w.events[0]!.online).to.equal(false);

    await heartbeat(b, user, 'phone', Platform.PLATFORM_IOS);
    const online = await w.next((s) => s.online, 'online', 1);
    expect(online.devices.map((d) => d.deviceId)).to.deep.equal(['phone']);

    await b.client.setOffline({ userId: user, deviceId: 'phone' });
    const offline = await w.next((s) => !s.online, 'offline', 2);
    expect(offline.devices).to.deep.equal([]);
    expect(offline.lastSeenAt!.getTime()).to.be.at.least(online.lastSeenAt!.getTime());
    expect(w.events.map((s) => s.online)).to.deep.equal([false, true, false]);
    w.cancel();
  });

  it('announces device set changes, not refreshes of a known device', async () => {
    const user = uniqueId();
    await heartbeat(b, user, 'phone', Platform.PLATFORM_IOS);
    const w = watch(a, [user]);
    await w.count(1);
    // Refreshing the same device on the same platform changes nothing a watcher shows.
    await heartbeat(b, user, 'phone', Platform.PLATFORM_IOS);
    await heartbeat(a, user, 'phone', Platform.PLATFORM_IOS);
    // A second device does, and so does its going away while the first stays.
    await heartbeat(b, user, 'desk', Platform.PLATFORM_DESKTOP);
    await w.next((s) => s.devices.length === 2, 'second device', 1);
    await b.client.setOffline({ userId: user, deviceId: 'desk' });
    await w.next((s) => s.devices.length === 1, 'second device gone', 2);
    // A platform change of a known device is a change too.
    await heartbeat(a, user, 'phone', Platform.PLATFORM_IPAD);
    await w.next((s) => s.devices[0]?.platform === Platform.PLATFORM_IPAD, 'platform change', 3);
    // Any event of the refreshes would have arrived before the later changes' events.
    expect(w.events.map((s) => s.devices.map((d) => d.deviceId).join(','))).to.deep.equal([
      'phone',
      'desk,phone',
      'phone',
      'phone',
    ]);
    expect(w.events.every((s) => s.online)).to.equal(true);
    w.cancel();
  });

  it('fans one subscription per instance out to every stream watching a user', async () => {
    const user = uniqueId();
    const streams = [watch(a, [user]), watch(a, [uniqueId(), user]), watch(b, [user])];
    await Promise.all(streams.map((s, i) => s.count(i === 1 ? 2 : 1)));
    await heartbeat(a, user, 'phone');
    await Promise.all(streams.map((s) => s.next((x) => x.userId === user && x.online, 'online')));
    // Two instances, three streams: two subscribers on the channel.
    const [, subscribers] = (await a.deps.redis.call(
      'PUBSUB',
      'NUMSUB',
      eventsChannel(env.redisPrefix),
    )) as [string, number];
    expect(subscribers).to.equal(2);
    for (const s of streams) s.cancel();
  });

  it('an empty list is an empty answer: the stream ends at once with OK', async () => {
    const w = watch(a, []);
    const status = await w.closed();
    expect(status.code).to.equal(GrpcStatus.OK);
    expect(w.events).to.deep.equal([]);
  });

  for (const [name, ids, field] of [
    ['1001 ids', Array.from({ length: 1001 }, (_, i) => `w${i}`), 'user_ids'],
    ['an empty id', ['ok', ''], 'user_ids[1]'],
    ['a malformed id', ['bad id'], 'user_ids[0]'],
  ] as const) {
    it(`rejects ${name} with INVALID_ARGUMENT`, async () => {
      const w = watch(a, [...ids]);
      const err = await expectGrpcError(
        new Promise((resolve, reject) => {
          w.stream.on('error', reject);
          w.stream.on('end', resolve);
        }),
        GrpcStatus.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      );
      expect(err.metadata.field).to.equal(field);
      expect(w.events).to.deep.equal([]);
    });
  }

  it('takes 1000 ids and answers each of them first', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `many-${i}`);
    await heartbeat(b, ids[999]!, 'last');
    const w = watch(a, ids);
    const events = await w.count(1000);
    expect(events.map((s) => s.userId)).to.deep.equal(ids);
    expect(events[999]!.online).to.equal(true);
    w.cancel();
  });

  it('a client cancel ends the stream and unregisters it', async () => {
    const before = a.deps.hub.sessionCount;
    const w = watch(a, [uniqueId()]);
    await w.count(1);
    expect(a.deps.hub.sessionCount).to.equal(before + 1);
    w.cancel();
    await waitFor(() => a.deps.hub.sessionCount === before, { what: 'the session to go' });
    const metrics = await a.deps.metrics.registry.getSingleMetricAsString('presence_watch_streams');
    expect(metrics).to.match(new RegExp(`presence_watch_streams ${before}$`, 'm'));
  });

  it('server shutdown ends open streams cleanly (OK)', async () => {
    const c = await startPresenceService(env);
    const w = watch(c, [uniqueId()]);
    await w.count(1);
    const stopping = c.stop();
    const status = await w.closed();
    await stopping;
    expect(status.code).to.equal(GrpcStatus.OK);
    expect(w.error).to.equal(undefined);
  });

  it('keeps working after a Redis flush (versions never go back)', async () => {
    const user = uniqueId();
    await heartbeat(b, user, 'phone');
    const w = watch(a, [user]);
    await w.count(1);
    await b.client.setOffline({ userId: user, deviceId: '' });
    await w.next((s) => !s.online, 'offline', 1);
    await deleteRedisPrefix(env.redisPrefix);
    expect((await a.client.getStatus({ userId: user })).status!.lastSeenAt).to.equal(undefined);
    await heartbeat(b, user, 'phone');
    await w.next((s) => s.online, 'online after the flush', 2);
    w.cancel();
  });
});
