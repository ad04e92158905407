import { expect } from 'chai';
import type { ListConversationsResponse } from '@im-repo/proto/conversation';
import { deleteRedisPrefix, freePort } from '@im-repo/testing';
import { statementCount } from '@im-repo/db';
import { startConversationService, startStack, uid, type Stack } from './harness';

describe('ListConversations paging', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('conv-paging');
  });
  after(async () => {
    await stack?.teardown();
  });

  /** A user with `count` conversations, each with one unread message; returns peers oldest first. */
  async function userWith(count: number) {
    const userId = uid('owner');
    const peers = Array.from({ length: count }, (_, i) => `${userId}-p${i}`);
    const records = peers.map((p) => stack.messages.send(p, 'single', userId));
    await stack.client.recordMessages({ records });
    return { userId, conversationIds: records.map((r) => r.conversationId), peers };
  }

  const page = (userId: string, pageToken: string, pageSize: number) =>
    stack.client.listConversations({ userId, pageSize, pageToken });

  /** Walks every page, calling between(pageIndex, seenSoFar) after each page. */
  async function walk(
    userId: string,
    pageSize: number,
    between: (i: number, seen: string[]) => Promise<void> = async () => undefined,
  ) {
    const seen: string[] = [];
    const pages: ListConversationsResponse[] = [];
    let token = '';
    for (let i = 0; i < 1000; i++) {
      const res = await page(userId, token, pageSize);
      pages.push(res);
      seen.push(...res.conversations.map((c) => c.conversationId));
      token = res.nextPageToken;
      if (!token) break;
      await between(i, seen);
    }
    return { seen, pages };
  }

  it('with a stable list, pages follow the order and the last page has no token', async () => {
    const { userId, conversationIds } = await userWith(23);
    const { seen, pages } = await walk(userId, 5);
    expect(pages.map((p) => p.conversations.length)).to.deep.equal([5, 5, 5, 5, 3]);
    expect(seen).to.deep.equal([...conversationIds].reverse());
    expect(pages.at(-1)!.nextPageToken).to.equal('');
    for (const p of pages) expect(p.totalUnread).to.equal(23);
  });

  it('walks every conversation exactly once while new messages reorder the list', async () => {
    const { userId, conversationIds, peers } = await userWith(120);
    const byId = new Map(conversationIds.map((id, i) => [id, peers[i]!]));
    const moved = new Set<string>();
    const { seen, pages } = await walk(userId, 25, async (_i, seenSoFar) => {
      const unseen = conversationIds.filter((id) => !seenSoFar.includes(id));
      // The oldest unseen ones jump to the top (a keyset cursor would skip them), and an
      // already-seen one moves too (a keyset cursor would show it again).
      const jumpers = [unseen[0]!, unseen[1]!, seenSoFar[3]!];
      const records = jumpers.map((id) => stack.messages.send(byId.get(id)!, 'single', userId));
      await stack.client.recordMessages({ records });
      jumpers.forEach((id) => moved.add(id));
    });
    expect(pages.length).to.be.greaterThan(3);
    expect(seen).to.have.length(120);
    expect(new Set(seen)).to.deep.equal(new Set(conversationIds));
    // The live list really was reordered: the moved ones now lead it.
    const fresh = await page(userId, '', 200);
    const top = fresh.conversations.slice(0, moved.size).map((c) => c.conversationId);
    expect(new Set(top)).to.deep.equal(moved);
    // Pages show current data: a conversation that moved before it was returned has its new seq.
    const lastPageIds = pages.at(-1)!.conversations;
    const movedLate = lastPageIds.find((c) => moved.has(c.conversationId));
    if (movedLate) expect(movedLate.maxSeq).to.be.greaterThan(1);
    expect(fresh.totalUnread).to.equal(120 + 3 * (pages.length - 1));
  });

  it('pinning and hiding mid-walk: still each visible one exactly once, hidden ones skipped', async () => {
    const { userId, conversationIds } = await userWith(40);
    let hidden = '';
    const { seen } = await walk(userId, 10, async (i, seenSoFar) => {
      const unseen = conversationIds.filter((id) => !seenSoFar.includes(id));
      if (i === 0) {
        await stack.client.setPinned({ userId, conversationId: unseen[0]!, pinned: true });
        hidden = unseen[5]!;
        await stack.client.hideConversation({ userId, conversationId: hidden });
      }
    });
    expect(seen).to.have.length(39);
    expect(new Set(seen)).to.deep.equal(new Set(conversationIds.filter((id) => id !== hidden)));
  });

  it('falls back to keyset paging when the snapshot is gone (Redis flushed)', async () => {
    const { userId, conversationIds } = await userWith(30);
    const { seen } = await walk(userId, 7, async (i) => {
      if (i === 1) await deleteRedisPrefix(stack.env.redisPrefix);
    });
    expect(seen).to.deep.equal([...conversationIds].reverse());
    const fallback = await stack.svc.deps.metrics.registry.getSingleMetricAsString(
      'conversation_list_cursor_total',
    );
    expect(fallback).to.match(/result="gone"} [1-9]/);
  });

  it('with Redis unreachable, lists still work and page by keyset', async () => {
    const { userId, conversationIds } = await userWith(9);
    const noRedis = await startConversationService(stack.env, stack.messages.address, {
      redis: { port: await freePort(), command_timeout_ms: 200 },
    });
    try {
      const seen: string[] = [];
      let pageToken = '';
      do {
        const res = await noRedis.client.listConversations({ userId, pageSize: 4, pageToken });
        expect(res.totalUnread).to.equal(9);
        seen.push(...res.conversations.map((c) => c.conversationId));
        pageToken = res.nextPageToken;
      } while (pageToken);
      expect(seen).to.deep.equal([...conversationIds].reverse());
    } finally {
      await noRedis.stop();
    }
  });

  it('keyset fallback orders pinned first, then activity, then id, across ties', async () => {
    const { userId, conversationIds } = await userWith(12);
    await stack.client.setPinned({ userId, conversationId: conversationIds[2]!, pinned: true });
    await stack.client.setPinned({ userId, conversationId: conversationIds[9]!, pinned: true });
    // Same sent_at for four conversations: the id decides among them.
    const tie = new Date(Date.now() - 60_000);
    const tied = conversationIds.slice(4, 8);
    await stack.client.recordMessages({
      records: tied.map((_, i) => ({
        ...stack.messages.send(`${userId}-p${4 + i}`, 'single', userId),
        sentAt: tie,
      })),
    });
    const expected = (await page(userId, '', 200)).conversations.map((c) => c.conversationId);
    expect(expected.slice(0, 2)).to.deep.equal([conversationIds[9], conversationIds[2]]);
    expect(expected.slice(-4)).to.deep.equal([...tied].sort());
    const { seen } = await walk(userId, 1, async () => {
      await deleteRedisPrefix(stack.env.redisPrefix);
    });
    expect(seen).to.deep.equal(expected);
  });

  it('another user’s token is harmless: their snapshot is not used', async () => {
    const mine = await userWith(3);
    const other = await userWith(6);
    const first = await page(other.userId, '', 2);
    // Another user's token: their snapshot is keyed by their id, so it pages our list by keyset.
    const res = await page(mine.userId, first.nextPageToken, 2);
    expect(res.conversations.length).to.be.greaterThan(0);
    for (const c of res.conversations) expect(mine.conversationIds).to.include(c.conversationId);
  });

  it('first page of a 1,000-conversation user: ONE message-service call and bounded queries', async () => {
    const { userId, conversationIds } = await userWith(1000);
    const muted = conversationIds.slice(0, 10);
    for (const conversationId of muted) {
      await stack.client.setMuted({ userId, conversationId, muted: true });
    }
    // Statements through the repository (health pings do not go through it).
    const statementsBefore = statementCount(stack.svc.deps.sequelize);
    const headsBefore = stack.messages.headsCalls;
    const maxSeqsBefore = stack.messages.maxSeqsCalls;
    const res = await page(userId, '', 0);
    const queries = statementCount(stack.svc.deps.sequelize) - statementsBefore;
    expect(stack.messages.headsCalls - headsBefore).to.equal(1);
    expect(stack.messages.maxSeqsCalls - maxSeqsBefore).to.equal(0);
    expect(queries).to.equal(1);
    const request = stack.messages.headsRequests.at(-1)!;
    expect(request.conversationIds).to.have.length(50);
    // Every other conversation that counts towards the total, muted ones not asked for.
    expect(request.maxSeqOnlyIds).to.have.length(940);
    expect(request.maxSeqOnlyIds).to.not.include.members(muted);
    expect(res.conversations).to.have.length(50);
    expect(res.totalUnread).to.equal(990);
    expect(res.conversations[0]!.conversationId).to.equal(conversationIds.at(-1));
    expect(res.conversations[0]).to.include({ maxSeq: 1, unreadCount: 1 });
    expect(res.conversations[0]!.lastMessage!.seq).to.equal(1);

    // page_size above the max is clamped to 200; a later page is also one call.
    const big = await page(userId, '', 5000);
    expect(big.conversations).to.have.length(200);
    const callsBefore = stack.messages.headsCalls;
    const second = await page(userId, big.nextPageToken, 5000);
    expect(second.conversations).to.have.length(200);
    expect(stack.messages.headsCalls - callsBefore).to.equal(1);
    expect((await stack.client.getTotalUnread({ userId })).totalUnread).to.equal(990);
  });

  it('a user with no conversations gets an empty list and asks the message service nothing', async () => {
    const before = stack.messages.headsCalls;
    const res = await page(uid('nobody'), '', 0);
    expect(res).to.deep.equal({ conversations: [], nextPageToken: '', totalUnread: 0 });
    expect((await stack.client.getTotalUnread({ userId: uid('nobody') })).totalUnread).to.equal(0);
    expect(stack.messages.headsCalls).to.equal(before);
  });
});
