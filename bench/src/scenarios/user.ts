import { GetUserRequest } from '@im-repo/proto/user';
import { loadClient } from '../clients';
import { fmt, mark, ratio, type Scenario } from '../scenario';

export const getUser: Scenario = {
  name: 'getuser',
  what: 'GetUser on 1,000 cached users, c=64',
  concurrency: 64,
  unit: 'calls',
  services: ['user'],
  needs: ['ceiling'],
  async prepare(ctx) {
    const users = await ctx.fixtures.usersAtLeast(1000);
    for (const userId of users) await ctx.fixtures.user.getUser({ userId }); // warm the cache
    const requests = users.map((userId) => Buffer.from(GetUserRequest.encode({ userId }).finish()));
    const pool = loadClient(ctx.stack.addresses.user, ctx.channels);
    return {
      op: (w, i) =>
        pool
          .call(w, '/im.user.v1.UserService/GetUser', requests[(w * 7919 + i) % requests.length]!)
          .then(() => undefined),
      cleanup: async () => pool.close(),
    };
  },
  targets(r, others) {
    const c = others.get('ceiling');
    if (!c) return [];
    return [
      mark(
        '>= 0.6 x ceiling throughput',
        r.throughput >= 0.6 * c.throughput,
        `${fmt(ratio(r.throughput, c.throughput))} x`,
      ),
      mark(
        'CPU/op <= 1.8 x ceiling',
        r.cpuUsPerUnit <= 1.8 * c.cpuUsPerUnit,
        `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
      ),
    ];
  },
};
