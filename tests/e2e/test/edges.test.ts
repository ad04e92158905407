import { groupConversationId, singleConversationId } from '@im-repo/proto';
import { ContentType, ConversationType, MessageStatus } from '@im-repo/proto/message';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { Stack } from './stack';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;

/** API.md v1.1 "Edges": ids at their maximum length, and answers that stay under 4 MiB. */
describe('edges (all five services, real MariaDB and Redis)', function () {
  this.timeout(120_000);
  let env: TestEnvironment;
  let stack: Stack;
  let n = 0;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('e2e-edges');
    stack = await Stack.start(env);
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  const c = () => stack.clients;
  /** A 64-char id (the contract's maximum) starting with prefix. */
  const longId = (prefix: string) => `${prefix}-${run}-${n++}-`.padEnd(64, 'x');
  const register = async (userId: string) => {
    await c().user.register({
      userId,
      username: `u_${run}_${n++}`.slice(0, 32),
      password: 'password-1',
      nickname: 'edge',
      avatarUrl: '',
    });
    return userId;
  };
  const send = (senderId: string, type: ConversationType, recipientId: string, text: string) =>
    c().message.sendMessage({
      clientMsgId: `m-${run}-${n++}`.padEnd(64, 'c'),
      senderId,
      conversationType: type,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(text),
    });
  const pull = (userId: string, conversationId: string) =>
    c().message.pullMessages({
      userId,
      conversationId,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
    });
  const find = async (userId: string, conversationId: string) =>
    (
      await c().conversation.listConversations({ userId, pageSize: 200, pageToken: '' })
    ).conversations.find((x) => x.conversationId === conversationId);

  describe('ids at their maximum length work in every rpc', () => {
    it('single chat between two 64-char user ids (a 132-char conversation id)', async () => {
      const a = await register(longId('a'));
      const b = await register(longId('b'));
      const cid = singleConversationId(a, b);
      expect(cid).to.have.length(132);

      // Concurrent sends share group-commit batches with other conversations' sends.
      const other = await register(longId('o'));
      const sent = await Promise.all([
        send(a, SINGLE, b, 'one'),
        send(b, SINGLE, a, 'two'),
        send(other, SINGLE, a, 'elsewhere'),
        send(a, SINGLE, b, 'three'),
      ]);
      expect(sent.map((s) => s.message!.conversationId)).to.deep.equal([
        cid,
        cid,
        singleConversationId(other, a),
        cid,
      ]);
      expect(
        sent.filter((s) => s.message!.conversationId === cid).map((s) => s.message!.seq),
      ).to.have.members([1, 2, 3]);

      for (const u of [a, b]) {
        expect((await pull(u, cid)).messages.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
      }
      expect((await c().message.getMaxSeqs({ conversationIds: [cid] })).maxSeqs[cid]).to.equal(3);
      const { heads } = await c().message.getConversationHeads({
        conversationIds: [cid],
        maxSeqOnlyIds: [cid],
      });
      expect(heads[0]).to.include({ conversationId: cid, maxSeq: 3 });

      const forB = await find(b, cid);
      expect(forB).to.include({ peerId: a, maxSeq: 3 });
      await c().conversation.markRead({ userId: b, conversationId: cid, readSeq: 0 });
      await c().conversation.setPinned({ userId: b, conversationId: cid, pinned: true });
      await c().conversation.setMuted({ userId: b, conversationId: cid, muted: true });
      const { conversation } = await c().conversation.getConversation({
        userId: b,
        conversationId: cid,
      });
      expect(conversation).to.include({ unreadCount: 0, pinned: true, muted: true });

      // The sends raced, so a's last message holds whichever seq its batch gave it.
      const recalled = await c().message.recallMessage({
        operatorId: a,
        conversationId: cid,
        seq: sent[3].message!.seq,
      });
      expect(recalled.message!.status).to.equal(MessageStatus.MESSAGE_STATUS_RECALLED);
      await c().conversation.hideConversation({ userId: a, conversationId: cid });
      expect(await find(a, cid)).to.equal(undefined);
      expect((await c().conversation.getTotalUnread({ userId: a })).totalUnread).to.be.a('number');
    });

    it('group chat with a 64-char group id (a 67-char conversation id) and 64-char members', async () => {
      const owner = await register(longId('w'));
      const member = await register(longId('m'));
      const groupId = longId('g');
      await c().group.createGroup({
        groupId,
        ownerId: owner,
        name: 'edges',
        avatarUrl: '',
        intro: '',
        memberIds: [member],
      });
      const cid = groupConversationId(groupId);
      expect(cid).to.have.length(67);
      expect(await find(member, cid)).to.include({ peerId: groupId, maxSeq: 0 });

      const sent = await Promise.all([
        send(owner, GROUP, groupId, 'hello'),
        send(member, GROUP, groupId, 'hi'),
      ]);
      expect(sent.map((s) => s.message!.seq)).to.have.members([1, 2]);
      expect((await pull(member, cid)).messages).to.have.length(2);
      expect(await find(member, cid)).to.include({ maxSeq: 2 });
      const read = await c().conversation.markRead({
        userId: owner,
        conversationId: cid,
        readSeq: 0,
      });
      expect(read.conversation).to.include({ readSeq: 2, unreadCount: 0 });
      const recalled = await c().message.recallMessage({
        operatorId: owner,
        conversationId: cid,
        seq: 1,
      });
      expect(recalled.message!.status).to.equal(MessageStatus.MESSAGE_STATUS_RECALLED);
      const { members } = await c().group.listMembers({ groupId, pageSize: 0, pageToken: '' });
      expect(members.map((m) => m.userId)).to.have.members([owner, member]);
    });
  });

  describe('answers stay under 4 MiB', () => {
    it('ListConversations with page_size 200 over 70 conversations ending in 64 KiB messages works with a default client', async () => {
      const me = await register(longId('me'));
      const peers: string[] = [];
      for (let i = 0; i < 70; i += 10) {
        const batch = await Promise.all(Array.from({ length: 10 }, () => register(longId('p'))));
        peers.push(...batch);
      }
      // The last message of each: 64 KiB of text whose 1,024th byte falls inside a character.
      const big = 'x'.repeat(1023) + '€'.repeat(21_500);
      for (let i = 0; i < 70; i += 10) {
        await Promise.all(peers.slice(i, i + 10).map((p) => send(p, SINGLE, me, big)));
      }
      // The clients are default ones (4 MiB receive limit): over it, this would fail.
      const page = await c().conversation.listConversations({
        userId: me,
        pageSize: 200,
        pageToken: '',
      });
      expect(page.conversations).to.have.length(70);
      expect(page.totalUnread).to.equal(70);
      for (const conv of page.conversations) {
        expect(conv.lastMessageTruncated).to.equal(true);
        expect(conv.lastMessage!.content.toString()).to.equal('x'.repeat(1023));
      }
      const one = await c().conversation.getConversation({
        userId: me,
        conversationId: page.conversations[0]!.conversationId,
      });
      expect(one.conversation!.lastMessageTruncated).to.equal(true);
      expect(one.conversation!.lastMessage!.content.length).to.equal(1023);
      // PullMessages has the full content.
      const { messages } = await pull(me, page.conversations[0]!.conversationId);
      expect(messages[0]!.content.toString()).to.equal(big);
    });
  });

  describe('former members see the group frozen where they left it', () => {
    const createGroup = async (owner: string, members: string[]) => {
      const groupId = longId('fg');
      await c().group.createGroup({
        groupId,
        ownerId: owner,
        name: 'former',
        avatarUrl: '',
        intro: '',
        memberIds: members,
      });
      return { groupId, cid: groupConversationId(groupId) };
    };
    const total = async (userId: string) =>
      (await c().conversation.getTotalUnread({ userId })).totalUnread;

    it('removed and left members: list row, GetConversation, total_unread, MarkRead clamp, Hide; re-added they follow again, fully read', async () => {
      const owner = await register(longId('ow'));
      const removed = await register(longId('rm'));
      const leaver = await register(longId('lv'));
      const stays = await register(longId('st'));
      const { groupId, cid } = await createGroup(owner, [removed, leaver, stays]);

      await send(owner, GROUP, groupId, 'one');
      await send(stays, GROUP, groupId, 'two');
      await send(owner, GROUP, groupId, 'three');
      const before = await find(removed, cid);
      expect(before).to.include({ maxSeq: 3, unreadCount: 3 });

      await c().group.removeMembers({ operatorId: owner, groupId, userIds: [removed] });
      await send(owner, GROUP, groupId, 'four');
      await c().group.leaveGroup({ userId: leaver, groupId });
      await send(owner, GROUP, groupId, 'secret five');
      await send(stays, GROUP, groupId, 'secret six');

      // The removed member: frozen at 3 (three and later never show).
      const row = await find(removed, cid);
      expect(row).to.include({ maxSeq: 3, unreadCount: 3, readSeq: 0 });
      expect(row!.lastMessage!.content.toString()).to.equal('three');
      expect(row!.updatedAt!.getTime()).to.equal(before!.updatedAt!.getTime());
      expect(await total(removed)).to.equal(3);
      const got = await c().conversation.getConversation({ userId: removed, conversationId: cid });
      expect(got.conversation).to.include({ maxSeq: 3, unreadCount: 3 });
      expect(got.conversation!.lastMessage!.seq).to.equal(3);
      // The one who left: frozen at 4.
      expect(await find(leaver, cid)).to.include({ maxSeq: 4, unreadCount: 4 });
      expect((await find(leaver, cid))!.lastMessage!.content.toString()).to.equal('four');
      expect(await total(leaver)).to.equal(4);
      // The member who stayed sees everything.
      expect(await find(stays, cid)).to.include({ maxSeq: 6 });

      // MarkRead clamps to the frozen max_seq, whatever is asked.
      const read = await c().conversation.markRead({
        userId: removed,
        conversationId: cid,
        readSeq: 6,
      });
      expect(read.conversation).to.include({ readSeq: 3, maxSeq: 3, unreadCount: 0 });
      await c().conversation.markRead({ userId: leaver, conversationId: cid, readSeq: 0 });
      expect(await find(leaver, cid)).to.include({ readSeq: 4, unreadCount: 0 });
      expect(await total(leaver)).to.equal(0);
      // Pulling is still refused.
      await c()
        .message.pullMessages({
          userId: removed,
          conversationId: cid,
          beginSeq: 0,
          endSeq: 0,
          limit: 0,
          descending: false,
        })
        .then(
          () => expect.fail('a former member must not pull'),
          (err: { code: number }) => expect(err.code).to.equal(7), // PERMISSION_DENIED
        );
      // Hide works on the frozen row; later group messages do not bring it back.
      await c().conversation.hideConversation({ userId: leaver, conversationId: cid });
      await send(owner, GROUP, groupId, 'secret seven');
      expect(await find(leaver, cid)).to.equal(undefined);

      // Re-added: follows the group again, fully read at re-joining.
      await c().group.addMembers({ operatorId: owner, groupId, userIds: [removed] });
      expect(await find(removed, cid)).to.include({ maxSeq: 7, readSeq: 7, unreadCount: 0 });
      await send(stays, GROUP, groupId, 'welcome back');
      const back = await find(removed, cid);
      expect(back).to.include({ maxSeq: 8, unreadCount: 1 });
      expect(back!.lastMessage!.content.toString()).to.equal('welcome back');
      expect(await total(removed)).to.equal(1);
    });

    it('a member removed before any message keeps an empty row', async () => {
      const owner = await register(longId('ow'));
      const early = await register(longId('ea'));
      const { groupId, cid } = await createGroup(owner, [early]);
      await c().group.removeMembers({ operatorId: owner, groupId, userIds: [early] });
      await send(owner, GROUP, groupId, 'after you left');
      const row = await find(early, cid);
      expect(row).to.include({ maxSeq: 0, unreadCount: 0 });
      expect(row!.lastMessage).to.equal(undefined);
      expect(await total(early)).to.equal(0);
    });
  });
});
