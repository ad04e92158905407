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

      const recalled = await c().message.recallMessage({
        operatorId: a,
        conversationId: cid,
        seq: 3,
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
});
