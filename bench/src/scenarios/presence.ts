import { BatchGetStatusRequest, HeartbeatRequest, Platform } from '@im-repo/proto/presence';
import { loadClient } from '../clients';
import { inParallel } from '../fixtures';
import { fmt, mark, ratio, type Scenario } from '../scenario';

const users = Array.from({ length: 10_000 }, (_, i) => `p${i}`);
// Its own ids: statuses left by the heartbeat scenario would change what it reads.
const statusUsers = Array.from({ length: 1000 }, (_, i) => `s${i}`);

export const heartbeat: Scenario = {
  name: 'heartbeat',
  what: 'Heartbeat, 10,000 users, c=64',
  concurrency: 64,
  unit: 'calls',
  services: ['presence'],
  needs: ['ceiling'],
  async prepare(ctx) {
    const requests = users.map((userId, i) =>
      Buffer.from(
        HeartbeatRequest.encode({
          userId,
          deviceId: `d${i % 3}`,
          platform: Platform.PLATFORM_IOS,
          ttlSeconds: 60,
        }).finish(),
      ),
    );
    const pool = loadClient(ctx.stack.addresses.presence, ctx.channels);
    return {
      op: (w, i) =>
        pool
          .call(
            w,
            '/im.presence.v1.PresenceService/Heartbeat',
            requests[(w * 157 + i) % requests.length]!,
          )
          .then(() => undefined),
      cleanup: async () => {
        pool.close();
        // Offline now (outside any measured window), so 10,000 expiries do not land in the
        // CPU of whatever scenario runs a minute later.
        await inParallel(users, 32, (userId) =>
          ctx.fixtures.presence.setOffline({ userId, deviceId: '' }),
        );
      },
    };
  },
  targets(r, others) {
    const c = others.get('ceiling');
    return c
      ? [
          mark(
            '>= 0.6 x ceiling',
            r.throughput >= 0.6 * c.throughput,
            `${fmt(ratio(r.throughput, c.throughput))} x`,
          ),
        ]
      : [];
  },
};

export const batchStatus: Scenario = {
  name: 'batch-status',
  // A latency target: measured at a moderate load (at saturation p99 is about c / throughput).
  what: 'BatchGetStatus of 100 users (half online), c=8',
  concurrency: 8,
  unit: 'calls',
  services: ['presence'],
  async prepare(ctx) {
    for (let i = 0; i < 1000; i += 2) {
      await ctx.fixtures.presence.heartbeat({
        userId: statusUsers[i]!,
        deviceId: 'web',
        platform: Platform.PLATFORM_WEB,
        ttlSeconds: 600,
      });
    }
    const requests = Array.from({ length: 10 }, (_, k) =>
      Buffer.from(
        BatchGetStatusRequest.encode({
          userIds: statusUsers.slice(k * 100, k * 100 + 100),
        }).finish(),
      ),
    );
    const pool = loadClient(ctx.stack.addresses.presence, ctx.channels);
    return {
      op: (w, i) =>
        pool
          .call(
            w,
            '/im.presence.v1.PresenceService/BatchGetStatus',
            requests[(w + i) % requests.length]!,
          )
          .then(() => undefined),
      cleanup: async () => pool.close(),
    };
  },
  targets: (r) => [mark('p99 <= 10 ms', r.p99 <= 10, `${fmt(r.p99, 1)} ms`)],
};
