import { expect } from 'chai';
import type { Conversation, MessageRecord } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { startStack, uid, type Stack } from './harness';

const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;
const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;

/**
 * Two users and a group of five exchange messages; every step checks unread counts, totals,
 * order and last activity as each member sees them.
 */
describe('unread counts: a realistic scenario', () => {
  let stack: Stack;
  const alice = uid('alice');
  const bob = uid('bob');
  const carol = uid('carol');
  const dave = uid('dave');
  const erin = uid('erin');
  const groupId = uid('g');
  const group = `sg_${groupId}`;
  const direct = alice < bob ? `si_${alice}_${bob}` : `si_${bob}_${alice}`;
  let groupCreatedAt: Date;
  const sent: Record<string, MessageRecord> = {};

  before(async () => {
    stack = await startStack('conv-scenario');
  });
  after(async () => {
    await stack?.teardown();
  });

  const send = async (sender: string, kind: 'single' | 'group', recipient: string) => {
    const record = stack.messages.send(sender, kind, recipient);
    await stack.client.recordMessages({ records: [record] });
    sent[`${record.conversationId}#${record.seq}`] = record;
    return record;
  };
  const list = async (userId: string) =>
    stack.client.listConversations({ userId, pageSize: 0, pageToken: '' });
  const get = async (userId: string, conversationId: string) =>
    (await stack.client.getConversation({ userId, conversationId })).conversation!;
  const find = (conversations: Conversation[], id: string) =>
    conversations.find((c) => c.conversationId === id);
  const totals = async (userId: string) => {
    const [{ totalUnread: listed }, { totalUnread }] = await Promise.all([
      list(userId),
      stack.client.getTotalUnread({ userId }),
    ]);
    expect(totalUnread, `GetTotalUnread equals the list's total for ${userId}`).to.equal(listed);
    return totalUnread;
  };
  const unread = async (userId: string, conversationId: string) =>
    (await get(userId, conversationId)).unreadCount;

  it('a group appears in every member list from the moment they join, fully read and empty', async () => {
    const before = Date.now();
    await stack.client.addParticipants({
      conversationId: group,
      conversationType: GROUP,
      peerId: groupId,
      userIds: [alice, bob, carol, dave, erin],
    });
    for (const user of [alice, bob, carol, dave, erin]) {
      const { conversations, totalUnread } = await list(user);
      expect(conversations).to.have.length(1);
      const c = conversations[0]!;
      expect(c).to.include({
        conversationId: group,
        conversationType: GROUP,
        peerId: groupId,
        maxSeq: 0,
        readSeq: 0,
        unreadCount: 0,
        pinned: false,
        muted: false,
      });
      expect(c.lastMessage).to.equal(undefined);
      expect(c.updatedAt!.getTime()).to.be.within(before - 5, Date.now() + 5);
      expect(totalUnread).to.equal(0);
    }
    groupCreatedAt = (await get(alice, group)).updatedAt!;
  });

  it('single chat: messages are unread for the recipient, never for the sender', async () => {
    await send(alice, 'single', bob);
    await send(alice, 'single', bob);
    const third = await send(alice, 'single', bob);
    const forBob = await get(bob, direct);
    expect(forBob).to.include({ peerId: alice, maxSeq: 3, readSeq: 0, unreadCount: 3 });
    expect(forBob.conversationType).to.equal(SINGLE);
    expect(forBob.lastMessage!.seq).to.equal(3);
    expect(forBob.lastMessage!.content.toString()).to.equal('message 3');
    expect(forBob.updatedAt!.getTime()).to.equal(third.sentAt!.getTime());
    const forAlice = await get(alice, direct);
    expect(forAlice).to.include({ peerId: bob, maxSeq: 3, readSeq: 3, unreadCount: 0 });
    expect(await totals(bob)).to.equal(3);
    expect(await totals(alice)).to.equal(0);
  });

  it('replying marks the conversation read for the replier up to the reply', async () => {
    await send(bob, 'single', alice);
    expect(await get(bob, direct)).to.include({ readSeq: 4, unreadCount: 0 });
    expect(await get(alice, direct)).to.include({ readSeq: 3, unreadCount: 1, maxSeq: 4 });
    expect(await totals(bob)).to.equal(0);
    expect(await totals(alice)).to.equal(1);
  });

  it('group messages count for every member except the sender, and write no per-member rows', async () => {
    await send(carol, 'group', groupId);
    await send(carol, 'group', groupId);
    await send(alice, 'group', groupId);
    const rowsBefore = await groupRows();
    const last = await send(dave, 'group', groupId);
    const rowsAfter = await groupRows();
    // Only the sender's own row moved; nobody else's row was written.
    for (const [user, row] of rowsAfter) {
      if (user === dave) expect(row.read_seq).to.equal(4);
      else expect(row, `row of ${user}`).to.deep.equal(rowsBefore.get(user));
    }
    expect(rowsAfter.size).to.equal(5);
    const [activity] = (await stack.svc.deps.sequelize.query(
      'SELECT max_seq, last_sent_at FROM conversation_activity WHERE conversation_id = ?',
      { replacements: [group], type: 'SELECT' },
    )) as { max_seq: number; last_sent_at: Date }[];
    expect(activity).to.deep.equal({ max_seq: 4, last_sent_at: last.sentAt });

    expect(await unread(alice, group)).to.equal(1);
    expect(await unread(bob, group)).to.equal(4);
    expect(await unread(carol, group)).to.equal(2);
    expect(await unread(dave, group)).to.equal(0);
    expect(await unread(erin, group)).to.equal(4);
    expect(await totals(alice)).to.equal(2);
    expect(await totals(bob)).to.equal(4);
    expect(await totals(erin)).to.equal(4);
    const forErin = await get(erin, group);
    expect(forErin.updatedAt!.getTime()).to.equal(last.sentAt!.getTime());
    expect(forErin.updatedAt!.getTime()).to.be.greaterThan(groupCreatedAt.getTime());
  });

  it('orders by last activity, newest first', async () => {
    const { conversations } = await list(alice);
    expect(conversations.map((c) => c.conversationId)).to.deep.equal([group, direct]);
    await send(bob, 'single', alice);
    const again = await list(alice);
    expect(again.conversations.map((c) => c.conversationId)).to.deep.equal([direct, group]);
    expect(again.totalUnread).to.equal(3);
  });

  it('MarkRead moves forward only, clamps to max_seq, 0 reads all; last activity does not move', async () => {
    const before = await get(bob, group);
    const two = (await stack.client.markRead({ userId: bob, conversationId: group, readSeq: 2 }))
      .conversation!;
    expect(two).to.include({ readSeq: 2, unreadCount: 2, maxSeq: 4 });
    const back = (await stack.client.markRead({ userId: bob, conversationId: group, readSeq: 1 }))
      .conversation!;
    expect(back).to.include({ readSeq: 2, unreadCount: 2 });
    const clamped = (
      await stack.client.markRead({ userId: bob, conversationId: group, readSeq: 100 })
    ).conversation!;
    expect(clamped).to.include({ readSeq: 4, unreadCount: 0, maxSeq: 4 });
    expect(clamped.updatedAt).to.deep.equal(before.updatedAt);
    const all = (await stack.client.markRead({ userId: alice, conversationId: direct, readSeq: 0 }))
      .conversation!;
    expect(all).to.include({ readSeq: 5, unreadCount: 0 });
    expect(await totals(bob)).to.equal(0);
    expect(await totals(alice)).to.equal(1);
  });

  it('mute: excluded from total_unread but still counts its own unread_count', async () => {
    const before = await get(erin, group);
    const muted = (
      await stack.client.setMuted({ userId: erin, conversationId: group, muted: true })
    ).conversation!;
    expect(muted).to.include({ muted: true, unreadCount: 4 });
    expect(muted.updatedAt).to.deep.equal(before.updatedAt);
    expect(await totals(erin)).to.equal(0);
    const { conversations } = await list(erin);
    expect(find(conversations, group)).to.include({ muted: true, unreadCount: 4 });
    await send(carol, 'group', groupId);
    expect(await unread(erin, group)).to.equal(5);
    expect(await totals(erin)).to.equal(0);
    await stack.client.setMuted({ userId: erin, conversationId: group, muted: false });
    expect(await totals(erin)).to.equal(5);
  });

  it('pin: pinned conversations come first whatever their activity; pinning does not move last activity', async () => {
    const { conversations } = await list(bob);
    expect(conversations.map((c) => c.conversationId)).to.deep.equal([group, direct]);
    const before = find(conversations, direct)!;
    const pinned = (
      await stack.client.setPinned({ userId: bob, conversationId: direct, pinned: true })
    ).conversation!;
    expect(pinned).to.include({ pinned: true });
    expect(pinned.updatedAt).to.deep.equal(before.updatedAt);
    const after = await list(bob);
    expect(after.conversations.map((c) => c.conversationId)).to.deep.equal([direct, group]);
    // Newer activity elsewhere does not overtake a pinned conversation.
    await send(carol, 'group', groupId);
    expect((await list(bob)).conversations[0]!.conversationId).to.equal(direct);
    await stack.client.setPinned({ userId: bob, conversationId: direct, pinned: false });
    expect((await list(bob)).conversations[0]!.conversationId).to.equal(group);
  });

  it('hide: gone from the list and the total until a newer message; older replays do not bring it back', async () => {
    const beforeHide = await get(alice, group);
    expect(beforeHide.unreadCount).to.equal(3);
    const totalBefore = await totals(alice);
    await stack.client.hideConversation({ userId: alice, conversationId: group });
    let { conversations } = await list(alice);
    expect(find(conversations, group)).to.equal(undefined);
    expect(await totals(alice)).to.equal(totalBefore - 3);
    // Still readable directly, and marked read.
    expect(await get(alice, group)).to.include({ readSeq: 6, unreadCount: 0 });
    // The message service retries an older batch: still hidden, read_seq untouched.
    const older = [sent[`${group}#3`]!, sent[`${group}#6`]!, sent[`${group}#1`]!];
    await stack.client.recordMessages({ records: older });
    ({ conversations } = await list(alice));
    expect(find(conversations, group)).to.equal(undefined);
    expect(await get(alice, group)).to.include({ readSeq: 6 });
    // A newer message brings it back, on top, with just that message unread.
    const newer = await send(dave, 'group', groupId);
    ({ conversations } = await list(alice));
    expect(conversations[0]).to.include({ conversationId: group, unreadCount: 1, maxSeq: 7 });
    expect(conversations[0]!.updatedAt!.getTime()).to.equal(newer.sentAt!.getTime());
    expect(await totals(alice)).to.equal(totalBefore - 3 + 1);
  });

  it('hiding a conversation with no messages yet hides it until the first one', async () => {
    const quiet = uid('quiet');
    await stack.client.addParticipants({
      conversationId: `sg_${quiet}`,
      conversationType: GROUP,
      peerId: quiet,
      userIds: [alice, bob],
    });
    expect(find((await list(alice)).conversations, `sg_${quiet}`)).to.not.equal(undefined);
    await stack.client.hideConversation({ userId: alice, conversationId: `sg_${quiet}` });
    expect(find((await list(alice)).conversations, `sg_${quiet}`)).to.equal(undefined);
    expect(find((await list(bob)).conversations, `sg_${quiet}`)).to.not.equal(undefined);
    await send(bob, 'group', quiet);
    expect(find((await list(alice)).conversations, `sg_${quiet}`)).to.include({ unreadCount: 1 });
  });

  it('a member who joins later starts fully read; re-adding a member leaves their row alone', async () => {
    const frank = uid('frank');
    await stack.client.markRead({ userId: erin, conversationId: group, readSeq: 3 });
    await stack.client.setPinned({ userId: erin, conversationId: group, pinned: true });
    await stack.client.addParticipants({
      conversationId: group,
      conversationType: GROUP,
      peerId: groupId,
      userIds: [frank, erin, frank],
    });
    expect(await get(frank, group)).to.include({ readSeq: 7, unreadCount: 0, maxSeq: 7 });
    expect(await get(erin, group)).to.include({ readSeq: 3, pinned: true });
    expect(await totals(frank)).to.equal(0);
    await send(dave, 'group', groupId);
    expect(await unread(frank, group)).to.equal(1);
  });

  it('a note to self is one row, never unread', async () => {
    const self = `si_${alice}_${alice}`;
    await send(alice, 'single', alice);
    await send(alice, 'single', alice);
    expect(await get(alice, self)).to.include({
      peerId: alice,
      maxSeq: 2,
      readSeq: 2,
      unreadCount: 0,
    });
    const [{ n }] = (await stack.svc.deps.sequelize.query(
      'SELECT COUNT(*) AS n FROM user_conversations WHERE conversation_id = ?',
      { replacements: [self], type: 'SELECT' },
    )) as { n: number }[];
    expect(Number(n)).to.equal(1);
  });

  async function groupRows() {
    const rows = (await stack.svc.deps.sequelize.query(
      'SELECT user_id, read_seq, hidden_seq, pinned, muted, updated_at FROM user_conversations WHERE conversation_id = ?',
      { replacements: [group], type: 'SELECT' },
    )) as { user_id: string; read_seq: number }[];
    return new Map(rows.map((r) => [r.user_id, r]));
  }
});
