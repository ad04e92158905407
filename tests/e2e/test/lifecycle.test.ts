import { singleConversationId } from '@im-repo/proto';
import type { Conversation } from '@im-repo/proto/conversation';
import { ContentType, ConversationType, type Message } from '@im-repo/proto/message';
import {
  createTestEnvironment,
  decodeGrpcError,
  GrpcStatus,
  waitFor,
  type StoredEvent,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { eventsSuite, Stack } from './stack';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
/** The retention window of the retention suite; expiry comes within 10 s, asserted 10x looser. */
const WINDOW_S = 2;
const EXPIRY_BOUND_MS = 100_000;

/** Users, sends and rows of one stack. */
function helpers(stack: () => Stack) {
  const run = Date.now().toString(36);
  let n = 0;
  const c = () => stack().clients;
  return {
    async register(label: string) {
      const userId = `${label}-${run}-${n++}`;
      await c().user.register({
        userId,
        username: userId.replace(/-/g, '_').slice(0, 32),
        password: 'password-1',
        nickname: label,
        avatarUrl: '',
      });
      return userId;
    },
    async send(senderId: string, recipientId: string): Promise<Message> {
      const { message } = await c().message.sendMessage({
        clientMsgId: `m-${run}-${n++}`,
        senderId,
        conversationType: SINGLE,
        recipientId,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from(`text ${n}`),
      });
      return message!;
    },
    async row(userId: string, conversationId: string): Promise<Conversation> {
      const { conversation } = await c().conversation.getConversation({ userId, conversationId });
      return conversation!;
    },
    async listed(userId: string, conversationId: string) {
      const page = await c().conversation.listConversations({
        userId,
        pageSize: 200,
        pageToken: '',
      });
      return {
        row: page.conversations.find((x) => x.conversationId === conversationId),
        totalUnread: page.totalUnread,
      };
    },
    pull(userId: string, conversationId: string) {
      return c().message.pullMessages({
        userId,
        conversationId,
        beginSeq: 0,
        endSeq: 0,
        limit: 200,
        descending: false,
      });
    },
  };
}

describe('ClearHistory through the real services', function () {
  this.timeout(120_000);
  let env: TestEnvironment;
  let stack: Stack;
  const h = helpers(() => stack);

  before(async () => {
    env = await createTestEnvironment('e2e-clear');
    stack = await Stack.start(env);
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('the user’s row reads unread 0 with no last message and the same max_seq; the other’s is untouched; a newer message shows', async () => {
    const a = await h.register('ca');
    const b = await h.register('cb');
    const cid = singleConversationId(a, b);
    await h.send(a, b);
    await h.send(b, a);
    const last = await h.send(b, a);
    const before = await h.row(a, cid);
    expect(before).to.deep.include({ maxSeq: 3, unreadCount: 2 });

    const { clearedSeq } = await stack.clients.message.clearHistory({
      userId: a,
      conversationId: cid,
    });
    expect(clearedSeq).to.equal(3);
    // Read-your-writes: the row follows as soon as ClearHistory returned.
    const cleared = await h.row(a, cid);
    expect(cleared).to.deep.include({ maxSeq: 3, unreadCount: 0, lastMessageTruncated: false });
    expect(cleared.lastMessage).to.equal(undefined);
    // updated_at keeps the time of the last message (visible or not): its place in the list.
    expect(cleared.updatedAt).to.deep.equal(last.sentAt);
    const listed = await h.listed(a, cid);
    expect(listed.row).to.deep.equal(cleared);
    expect(listed.totalUnread).to.equal(0);
    expect((await stack.clients.conversation.getTotalUnread({ userId: a })).totalUnread).to.equal(
      0,
    );

    // Nobody else is affected.
    const theirs = await h.row(b, cid);
    expect(theirs.lastMessage).to.deep.equal(last);
    expect(theirs.maxSeq).to.equal(3);
    expect((await h.pull(b, cid)).messages.map((m) => m.seq)).to.deep.equal([1, 2, 3]);

    const newer = await h.send(b, a);
    const after = await h.row(a, cid);
    expect(after).to.deep.include({ maxSeq: 4, unreadCount: 1 });
    expect(after.lastMessage).to.deep.equal(newer);
    expect((await h.pull(a, cid)).messages).to.deep.equal([newer]);
  });

  it('works on a dismissed group for its members; a former member is refused like PullMessages', async () => {
    const owner = await h.register('go');
    const member = await h.register('gm');
    const leaver = await h.register('gl');
    const { group } = await stack.clients.group.createGroup({
      groupId: '',
      ownerId: owner,
      name: 'clear',
      avatarUrl: '',
      intro: '',
      memberIds: [member, leaver],
    });
    const cid = `sg_${group!.groupId}`;
    await stack.clients.message.sendMessage({
      clientMsgId: `g-${cid}`,
      senderId: owner,
      conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
      recipientId: group!.groupId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from('before the end'),
    });
    await stack.clients.group.leaveGroup({ userId: leaver, groupId: group!.groupId });
    await stack.clients.group.dismissGroup({ operatorId: owner, groupId: group!.groupId });
    expect(
      await stack.clients.message.clearHistory({ userId: member, conversationId: cid }),
    ).to.deep.equal({ clearedSeq: 1 });
    const row = await h.row(member, cid);
    expect(row).to.deep.include({ maxSeq: 1, unreadCount: 0 });
    expect(row.lastMessage).to.equal(undefined);
    const refused = async (call: Promise<unknown>) =>
      call.then(
        () => expect.fail('the call succeeded'),
        (err: unknown) => {
          const { code, reason } = decodeGrpcError(err);
          return { code, reason };
        },
      );
    const pulled = await refused(h.pull(leaver, cid));
    expect(pulled).to.deep.equal({
      code: GrpcStatus.PERMISSION_DENIED,
      reason: 'NOT_GROUP_MEMBER',
    });
    expect(
      await refused(stack.clients.message.clearHistory({ userId: leaver, conversationId: cid })),
    ).to.deep.equal(pulled);
  });

  it('while the conversation service is down: PullMessages honours the floor at once; the row catches up once it is back', async () => {
    const a = await h.register('da');
    const b = await h.register('db');
    const cid = singleConversationId(a, b);
    await h.send(b, a);
    await h.send(b, a);
    await stack.stopService('conversation');
    try {
      expect(
        await stack.clients.message.clearHistory({ userId: a, conversationId: cid }),
      ).to.deep.equal({ clearedSeq: 2 });
      expect(await h.pull(a, cid)).to.deep.equal({ messages: [], maxSeq: 2, minSeq: 3 });
    } finally {
      await stack.startService('conversation');
    }
    const row = await waitFor(
      async () => {
        const r = await h.row(a, cid);
        return r.unreadCount === 0 && r;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the row to catch up' },
    );
    expect(row).to.deep.include({ maxSeq: 2, unreadCount: 0 });
    expect(row.lastMessage).to.equal(undefined);
    expect((await h.row(b, cid)).maxSeq).to.equal(2);
  });
});

describe('retention through the real services (MESSAGE_RETENTION_SECONDS=2)', function () {
  this.timeout(240_000);
  let env: TestEnvironment;
  let stack: Stack;
  const h = helpers(() => stack);

  before(async () => {
    env = await createTestEnvironment('e2e-retention');
    stack = await Stack.start(env, { message: { message: { retention_seconds: WINDOW_S } } });
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('lists follow the heads: max_seq kept, no last message, expired seqs still unread, updated_at kept', async () => {
    const a = await h.register('ra');
    const b = await h.register('rb');
    const cid = singleConversationId(a, b);
    await h.send(a, b);
    const last = await h.send(a, b);
    expect((await h.row(b, cid)).lastMessage).to.deep.equal(last);

    const row = await waitFor(
      async () => {
        const r = await h.row(b, cid);
        return r.lastMessage === undefined && r;
      },
      { timeoutMs: EXPIRY_BOUND_MS, intervalMs: 200, what: 'the last message to expire' },
    );
    expect(row).to.deep.include({ maxSeq: 2, unreadCount: 2, lastMessageTruncated: false });
    expect(row.updatedAt).to.deep.equal(last.sentAt);
    const listed = await h.listed(b, cid);
    expect(listed.row).to.deep.equal(row);
    expect(listed.totalUnread).to.equal(2);
    await waitFor(async () => (await h.pull(b, cid)).messages.length === 0, {
      timeoutMs: EXPIRY_BOUND_MS,
      intervalMs: 200,
      what: 'the messages to leave PullMessages',
    });
    expect(await h.pull(b, cid)).to.deep.equal({ messages: [], maxSeq: 2, minSeq: 3 });

    // MarkRead still reads up to max_seq; a new message is seq 3 and shows.
    await stack.clients.conversation.markRead({ userId: b, conversationId: cid, readSeq: 0 });
    const next = await h.send(a, b);
    expect(next.seq).to.equal(3);
    const now = await h.row(b, cid);
    expect(now).to.deep.include({ maxSeq: 3, unreadCount: 1 });
    expect(now.lastMessage).to.deep.equal(next);
  });
});

describe('conversation.cleared on NATS JetStream (the run’s own prefix and stream)', function () {
  this.timeout(120_000);
  // Events from the message service only: message.created and conversation.cleared.
  const suite = eventsSuite('e2e-clear-events', ['message']);
  const h = helpers(() => suite.stack);

  /** Waits for exactly `count` new events after `from`, and for no more to arrive. */
  async function settle(from: number, count: number): Promise<StoredEvent[]> {
    await suite.events.waitFor(from + count, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    const all = await suite.events.read();
    expect(all.length).to.equal(from + count);
    return all.slice(from);
  }

  it('only a clear that moved the floor emits, keyed by the user, with the exact payload', async () => {
    const p = suite.events.prefix;
    const a = await h.register('ea');
    const b = await h.register('eb');
    const cid = singleConversationId(a, b);
    // Nothing to clear yet: the floor stays 0, nothing is emitted.
    expect(
      await suite.stack.clients.message.clearHistory({ userId: a, conversationId: cid }),
    ).to.deep.equal({
      clearedSeq: 0,
    });
    await h.send(a, b);
    await h.send(b, a);
    let seen = (await settle(0, 2)).length;

    await suite.stack.clients.message.clearHistory({ userId: a, conversationId: cid });
    // A repeat that leaves the floor where it was emits nothing.
    await suite.stack.clients.message.clearHistory({ userId: a, conversationId: cid });
    const [cleared] = await settle(seen, 1);
    seen += 1;
    expect(cleared!.subject).to.equal(`${p}.conversation.cleared.${a}`);
    expect(cleared!.msgId).to.equal(cleared!.event.eventId);
    expect(cleared!.event.payload).to.deep.equal({
      $case: 'conversationCleared',
      value: { userId: a, conversationId: cid, clearedSeq: 2 },
    });
    expect(cleared!.event.occurredAt).to.be.instanceOf(Date);

    await h.send(b, a);
    await suite.stack.clients.message.clearHistory({ userId: b, conversationId: cid });
    const got = await settle(seen, 2);
    expect(got.map((e) => e.subject)).to.deep.equal([
      `${p}.message.created.${cid}`,
      `${p}.conversation.cleared.${b}`,
    ]);
    expect(got[1]!.event.payload).to.deep.equal({
      $case: 'conversationCleared',
      value: { userId: b, conversationId: cid, clearedSeq: 3 },
    });
  });
});
