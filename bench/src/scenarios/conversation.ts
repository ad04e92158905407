import { ConversationType } from '@im-repo/proto/message';
import { ListConversationsRequest } from '@im-repo/proto/conversation';
import { loadClient } from '../clients';
import { inParallel } from '../fixtures';
import { fmt, mark, ratio, type Scenario } from '../scenario';

export const list: Scenario = {
  name: 'list',
  // A latency target: measured at a moderate load (at saturation p99 is about c / throughput).
  what: 'ListConversations, a user with 200 conversations, page 20, c=8',
  concurrency: 8,
  unit: 'calls',
  services: ['conversation', 'message'],
  needs: ['ceiling'],
  async prepare(ctx) {
    const users = await ctx.fixtures.usersAtLeast(201);
    const [owner, ...peers] = users;
    const tag = `list${Date.now().toString(36)}`;
    // Each peer writes to the owner (unread for the owner), and the owner answers half of them.
    await inParallel(peers, 32, async (peer, i) => {
      await ctx.fixtures.send(
        peer,
        ConversationType.CONVERSATION_TYPE_SINGLE,
        owner!,
        `${tag}-in-${i}`,
      );
      if (i % 2)
        await ctx.fixtures.send(
          owner!,
          ConversationType.CONVERSATION_TYPE_SINGLE,
          peer,
          `${tag}-out-${i}`,
        );
    });
    const request = Buffer.from(
      ListConversationsRequest.encode({ userId: owner!, pageSize: 20, pageToken: '' }).finish(),
    );
    const pool = loadClient(ctx.stack.addresses.conversation, ctx.channels);
    return {
      op: (w) =>
        pool
          .call(w, '/im.conversation.v1.ConversationService/ListConversations', request)
          .then(() => undefined),
      cleanup: async () => pool.close(),
    };
  },
  targets(r, others) {
    const c = others.get('ceiling');
    const marks = [mark('p99 <= 15 ms', r.p99 <= 15, `${fmt(r.p99, 1)} ms`)];
    if (c)
      marks.push(
        mark(
          'CPU/op <= 20 x ceiling',
          r.cpuUsPerUnit <= 20 * c.cpuUsPerUnit,
          `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
        ),
      );
    return marks;
  },
};
