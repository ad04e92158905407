import { createServer, Socket, type Server } from 'node:net';
import { createRedis, waitForRedis, type RedisClient } from '@im-repo/cache';
import { createPresenceServiceClient, Platform } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { heartbeat, startPresenceService, uniqueId, watch, type PresenceService } from './harness';

/**
 * A TCP proxy that can be frozen: bytes stop flowing both ways but the sockets stay open, like
 * a client whose machine vanished (no FIN, no RST, no answers to pings).
 */
class FreezableProxy {
  private server: Server | undefined;
  private frozen = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(this.targetPort, '127.0.0.1');
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => {
          if (!this.frozen) to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      for (const s of [client, upstream]) s.on('error', () => s.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
  }

  freeze(): void {
    this.frozen = true;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('presence limits (API.md v1.1 Edges): last_seen TTL, watch stream cap, keepalive', function () {
  this.timeout(60_000);
  let env: TestEnvironment;
  let svc: PresenceService;
  let raw: RedisClient;

  before(async () => {
    env = await createTestEnvironment('presence-limits', { mysql: false });
    svc = await startPresenceService(env, {
      presence: { last_seen_ttl_seconds: 2, max_watch_streams: 2 },
      server: { keepalive_time_ms: 300, keepalive_timeout_ms: 300 },
    });
    // No key prefix: this client sees the raw keys of the run.
    raw = createRedis({ ...svc.deps.config.redis, key_prefix: '' });
    await waitForRedis(raw, 5000);
  });

  after(async () => {
    raw?.disconnect();
    await svc?.stop();
    await env?.teardown();
  });

  /** Every key of the run that mentions the user (the bucket indexes hold them as members). */
  async function footprint(userId: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${env.redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        if (key.includes(userId)) found.push(key);
        else if ((await raw.type(key)) === 'zset' && (await raw.zscore(key, userId)) !== null) {
          found.push(`${key} (member)`);
        }
      }
    } while (cursor !== '0');
    return found;
  }

  async function keysWithoutTtl(): Promise<string[]> {
    const keys = await raw.keys(`${env.redisPrefix}*`);
    const ttls = await Promise.all(keys.map((k) => raw.pttl(k)));
    return keys.filter((_, i) => ttls[i] === -1);
  }

  it('forgets a user PRESENCE_LAST_SEEN_TTL_SECONDS after SetOffline: never seen, nothing left in Redis', async () => {
    const user = uniqueId('gone');
    await heartbeat(svc, user, 'phone', Platform.PLATFORM_IOS, 60);
    expect(await keysWithoutTtl()).to.deep.equal([]);
    const { status } = await svc.client.setOffline({ userId: user, deviceId: '' });
    expect(status!.lastSeenAt).to.be.instanceOf(Date);
    expect(await keysWithoutTtl()).to.deep.equal([]);
    await waitFor(
      async () => (await svc.client.getStatus({ userId: user })).status!.lastSeenAt === undefined,
      { timeoutMs: 20_000, what: 'last_seen_at to be forgotten' },
    );
    await waitFor(async () => (await footprint(user)).length === 0, {
      timeoutMs: 20_000,
      what: 'no key left for the user',
    });
  });

  it('forgets a user whose last device expired, the TTL counted from the expiry', async () => {
    const user = uniqueId('expired');
    await heartbeat(svc, user, 'phone', Platform.PLATFORM_IOS, 5);
    // While the device lives, last_seen_at is kept (the TTL runs from the device's expiry).
    await new Promise((r) => setTimeout(r, 2500));
    expect((await svc.client.getStatus({ userId: user })).status!.lastSeenAt).to.be.instanceOf(
      Date,
    );
    expect(await keysWithoutTtl()).to.deep.equal([]);
    await waitFor(
      async () => (await svc.client.getStatus({ userId: user })).status!.lastSeenAt === undefined,
      { timeoutMs: 30_000, what: 'last_seen_at to be forgotten after the expiry' },
    );
    await waitFor(async () => (await footprint(user)).length === 0, {
      timeoutMs: 20_000,
      what: 'no key left for the user',
    });
  });

  it('holds at most PRESENCE_MAX_WATCH_STREAMS streams; beyond: RESOURCE_EXHAUSTED TOO_MANY_STREAMS', async () => {
    const user = uniqueId('watched');
    const first = watch(svc, [user]);
    const second = watch(svc, [user]);
    await Promise.all([first.count(1), second.count(1)]);
    const third = watch(svc, [user]);
    await third.closed();
    expect(third.error?.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
    await expectGrpcError(
      Promise.reject(third.error),
      GrpcStatus.RESOURCE_EXHAUSTED,
      'TOO_MANY_STREAMS',
    );
    first.cancel();
    await waitFor(() => svc.deps.hub.sessionCount === 1, { what: 'the cancelled stream to end' });
    const fourth = watch(svc, [user]);
    await fourth.count(1);
    second.cancel();
    fourth.cancel();
    await waitFor(() => svc.deps.hub.sessionCount === 0, { what: 'every stream to end' });
  });

  it('ends the stream of a client that stops answering HTTP/2 pings (keepalive)', async () => {
    const proxy = new FreezableProxy(svc.port);
    await proxy.open();
    const client = createPresenceServiceClient(`127.0.0.1:${proxy.port}`, {
      // The client's own keepalive must not be what ends it.
      channelOptions: { 'grpc.keepalive_time_ms': 600_000 },
    });
    try {
      const user = uniqueId('vanish');
      const stream = client.watchStatus({ userIds: [user] });
      stream.on('error', () => undefined);
      await new Promise((resolve) => stream.once('data', resolve));
      expect(svc.deps.hub.sessionCount).to.equal(1);
      proxy.freeze();
      await waitFor(() => svc.deps.hub.sessionCount === 0, {
        timeoutMs: 20_000,
        what: 'the server to end the stream of the vanished client',
      });
      stream.cancel();
    } finally {
      client.close();
      await proxy.close();
    }
  });
});
