import { groupConversationId, singleConversationId } from '@im-repo/proto';
import { GroupRole, GroupStatus } from '@im-repo/proto/group';
import {
  ContentType,
  ConversationType,
  createMessageServiceClient,
  MessageStatus,
} from '@im-repo/proto/message';
import { Platform, type UserStatus } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  TEST_CLIENT_TIMEOUT_MS,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { eventsSuite, Stack } from './stack';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;
const PASSWORD = 'password-1';
/** "Within seconds" (API.md), asserted ten times looser. */
const FOLLOW_UP_MS = 30_000;

/** A stack, its users and sends; shared by the suites below. */
function helpers(stack: () => Stack) {
  const run = Date.now().toString(36);
  let n = 0;
  const c = () => stack().clients;
  return {
    c,
    next: () => n++,
    async register(label: string, username?: string): Promise<string> {
      const userId = `${label}-${run}-${n++}`;
      await c().user.register({
        userId,
        username: username ?? userId.replace(/-/g, '_').slice(0, 32),
        password: PASSWORD,
        nickname: label,
        avatarUrl: '',
      });
      return userId;
    },
    send(
      senderId: string,
      type: ConversationType,
      recipientId: string,
      text: string,
      clientMsgId = `m-${run}-${n++}`,
      client = c().message,
    ) {
      return client.sendMessage({
        clientMsgId,
        senderId,
        conversationType: type,
        recipientId,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from(text),
      });
    },
    async groupOf(ownerId: string, memberIds: string[]): Promise<string> {
      const { group } = await c().group.createGroup({
        groupId: '',
        ownerId,
        name: 'g',
        avatarUrl: '',
        intro: '',
        memberIds,
      });
      return group!.groupId;
    },
    async memberIds(groupId: string): Promise<string[]> {
      const { members } = await c().group.listMembers({ groupId, pageSize: 0, pageToken: '' });
      return members.map((m) => m.userId);
    },
  };
}

describe('DeleteUser (all five services, real MariaDB, Redis and NATS)', function () {
  this.timeout(120_000);
  const suite = eventsSuite('e2e-delete');
  const h = helpers(() => suite.stack);
  const { c } = h;

  it('validates: a malformed id is INVALID_ARGUMENT; an unknown or deleted user NOT_FOUND', async () => {
    await expectGrpcError(
      c().user.deleteUser({ userId: '' }),
      GrpcStatus.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    await expectGrpcError(
      c().user.deleteUser({ userId: 'a_b' }),
      GrpcStatus.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    await expectGrpcError(
      c().user.deleteUser({ userId: `nobody-${h.next()}` }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    const a = await h.register('twice');
    await c().user.deleteUser({ userId: a });
    await expectGrpcError(
      c().user.deleteUser({ userId: a }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
  });

  it('at once: unknown to Login, GetUser, BatchGetUsers and SendMessage; the name is free, the id never', async () => {
    const name = `gone_${Date.now().toString(36)}_${h.next()}`;
    const a = await h.register('a', name);
    const b = await h.register('b');
    const sent = await h.send(a, SINGLE, b, 'hello b');
    const fromB = await h.send(b, SINGLE, a, 'hello a');
    await c().user.login({ username: name, password: PASSWORD });

    await c().user.deleteUser({ userId: a });

    // Login fails exactly like an unknown username (same code, reason and message).
    const deleted = await expectGrpcError(
      c().user.login({ username: name, password: PASSWORD }),
      GrpcStatus.UNAUTHENTICATED,
      'INVALID_CREDENTIALS',
    );
    const unknown = await expectGrpcError(
      c().user.login({ username: `never_${h.next()}`, password: PASSWORD }),
      GrpcStatus.UNAUTHENTICATED,
      'INVALID_CREDENTIALS',
    );
    expect(deleted.message).to.equal(unknown.message);
    await expectGrpcError(c().user.getUser({ userId: a }), GrpcStatus.NOT_FOUND, 'USER_NOT_FOUND');
    const { users } = await c().user.batchGetUsers({ userIds: [b, a, b] });
    expect(users.map((u) => u.userId)).to.deep.equal([b]);
    await expectGrpcError(
      c().user.updateUser({ userId: a, nickname: 'back' }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );

    // Sends from and to the user; a repeat of an acked send too (deletion wins over idempotency).
    await expectGrpcError(h.send(a, SINGLE, b, 'again'), GrpcStatus.NOT_FOUND, 'USER_NOT_FOUND');
    await expectGrpcError(h.send(b, SINGLE, a, 'to a'), GrpcStatus.NOT_FOUND, 'USER_NOT_FOUND');
    await expectGrpcError(
      h.send(a, SINGLE, b, 'hello b', sent.message!.clientMsgId),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    await expectGrpcError(
      h.send(b, SINGLE, a, 'hello a', fromB.message!.clientMsgId),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );

    // The username is free at once; the user id is never registered again.
    const { user: heir } = await c().user.register({
      userId: '',
      username: name,
      password: 'password-2',
      nickname: '',
      avatarUrl: '',
    });
    expect(heir!.userId).to.not.equal(a);
    await c().user.login({ username: name, password: 'password-2' });
    await expectGrpcError(
      c().user.register({
        userId: a,
        username: `other_${h.next()}`,
        password: PASSWORD,
        nickname: '',
        avatarUrl: '',
      }),
      GrpcStatus.ALREADY_EXISTS,
      'USER_ID_TAKEN',
    );

    // Their messages stay in the other participant's history, sender_id unchanged.
    const { messages } = await c().message.pullMessages({
      userId: b,
      conversationId: singleConversationId(a, b),
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
    });
    expect(messages.map((m) => [m.senderId, m.status, m.content.toString()])).to.deep.equal([
      [a, MessageStatus.MESSAGE_STATUS_NORMAL, 'hello b'],
      [b, MessageStatus.MESSAGE_STATUS_NORMAL, 'hello a'],
    ]);
  });

  it('within seconds: devices offline (watchers see it), out of every group, an empty list', async () => {
    const a = await h.register('a');
    const admin = await h.register('admin');
    const early = await h.register('early');
    const late = await h.register('late');
    const other = await h.register('other');
    // a owns g1 (early joined before admin, but the admin is first in line), owns g2 (members
    // only: the longest-standing member takes over), owns g3 alone (dismissed), is a member of g4.
    const g1 = await h.groupOf(a, [early]);
    await c().group.addMembers({ operatorId: a, groupId: g1, userIds: [admin, late] });
    await c().group.setMemberRole({
      operatorId: a,
      groupId: g1,
      userId: admin,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });
    const g2 = await h.groupOf(a, [early, late]);
    const g3 = await h.groupOf(a, []);
    const g4 = await h.groupOf(other, [a]);
    await h.send(a, GROUP, g4, 'in g4');
    await h.send(a, SINGLE, other, 'to other');
    await c().presence.heartbeat({
      userId: a,
      deviceId: 'phone',
      platform: Platform.PLATFORM_IOS,
      ttlSeconds: 600,
    });
    await c().presence.heartbeat({
      userId: a,
      deviceId: 'web',
      platform: Platform.PLATFORM_WEB,
      ttlSeconds: 600,
    });
    const watch = c().presence.watchStatus({ userIds: [a] });
    const seen: UserStatus[] = [];
    watch.on('data', (r: { status: UserStatus }) => seen.push(r.status));
    watch.on('error', () => undefined);
    await waitFor(() => seen.length > 0 && seen[0]!.online, { what: 'the first status' });
    expect(
      (await c().conversation.listConversations({ userId: a, pageSize: 0, pageToken: '' }))
        .conversations,
    ).to.have.length(5); // four groups and the single chat

    await c().user.deleteUser({ userId: a });

    await waitFor(() => seen.some((s) => !s.online), {
      timeoutMs: FOLLOW_UP_MS,
      what: 'watchers to see the user go offline',
    });
    const offline = seen.find((s) => !s.online)!;
    expect(offline.devices).to.deep.equal([]);
    expect(offline.lastSeenAt).to.equal(undefined);
    watch.cancel();
    const { status } = await c().presence.getStatus({ userId: a });
    expect(status).to.deep.include({ online: false, devices: [] });
    expect(status!.lastSeenAt).to.equal(undefined);

    await waitFor(
      async () =>
        (await c().group.listUserGroups({ userId: a, pageSize: 0, pageToken: '' })).groups
          .length === 0,
      { timeoutMs: FOLLOW_UP_MS, what: 'the user to leave every group' },
    );
    const group = async (id: string) => (await c().group.getGroup({ groupId: id })).group!;
    expect(await group(g1)).to.deep.include({ ownerId: admin, memberCount: 3 });
    expect(await h.memberIds(g1)).to.deep.equal([early, admin, late]);
    expect(await group(g2)).to.deep.include({ ownerId: early, memberCount: 2 });
    const heir = await c().group.getMember({ groupId: g2, userId: early });
    expect(heir.member!.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
    expect(await group(g3)).to.deep.include({
      status: GroupStatus.GROUP_STATUS_DISMISSED,
      memberCount: 0,
    });
    expect(await group(g4)).to.deep.include({ ownerId: other, memberCount: 1 });

    await waitFor(
      async () =>
        (await c().conversation.listConversations({ userId: a, pageSize: 0, pageToken: '' }))
          .conversations.length === 0,
      { timeoutMs: FOLLOW_UP_MS, what: 'the conversation list to be empty' },
    );
    // A record arriving later (a retried RecordMessages) is dropped: the list stays empty.
    await c().conversation.recordMessages({
      records: [
        {
          conversationId: singleConversationId(a, other),
          conversationType: SINGLE,
          senderId: other,
          recipientId: a,
          seq: 2,
          sentAt: new Date(),
        },
        {
          conversationId: groupConversationId(g4),
          conversationType: GROUP,
          senderId: a,
          recipientId: g4,
          seq: 2,
          sentAt: new Date(),
        },
      ],
    });
    await c().conversation.addParticipants({
      conversationId: groupConversationId(g4),
      conversationType: GROUP,
      peerId: g4,
      userIds: [a],
    });
    const after = await c().conversation.listConversations({
      userId: a,
      pageSize: 0,
      pageToken: '',
    });
    expect(after.conversations).to.deep.equal([]);
    expect(after.totalUnread).to.equal(0);
    // The other participant keeps the conversation and the message, sender_id unchanged.
    const { conversations } = await c().conversation.listConversations({
      userId: other,
      pageSize: 0,
      pageToken: '',
    });
    expect(conversations.map((x) => x.conversationId)).to.include(singleConversationId(a, other));
  });

  it('events: user.deleted, and per group members_removed (left) then group.updated or group.dismissed', async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const g1 = await h.groupOf(a, [b]);
    const g2 = await h.groupOf(a, []);
    await c().user.deleteUser({ userId: a });
    await waitFor(
      async () =>
        (await suite.events.read()).some(
          (e) => e.subject === `${suite.events.prefix}.group.dismissed.${g2}`,
        ),
      { timeoutMs: FOLLOW_UP_MS, what: 'the dismissal of the emptied group' },
    );
    // Let anything extra (a duplicate) arrive before counting.
    await new Promise((r) => setTimeout(r, 1500));
    const all = await suite.events.read();
    const of = (key: string) =>
      all.filter((e) => e.subject.endsWith(`.${key}`)).map((e) => e.event.payload!);
    const userEvents = of(a);
    expect(userEvents.map((p) => p.$case)).to.deep.equal(['userRegistered', 'userDeleted']);
    expect(userEvents[1]!.value).to.deep.equal({ userId: a });

    const g1Events = of(g1);
    expect(g1Events.map((p) => p.$case)).to.deep.equal([
      'groupCreated',
      'membersRemoved',
      'groupUpdated',
    ]);
    expect(g1Events[1]!.value).to.deep.equal({
      groupId: g1,
      userIds: [a],
      operatorId: a,
      left: true,
    });
    const updated = g1Events[2]!.value as { group: { ownerId: string }; operatorId: string };
    expect(updated.group.ownerId).to.equal(b);
    expect(updated.operatorId).to.equal(a);

    const g2Events = of(g2);
    expect(g2Events.map((p) => p.$case)).to.deep.equal([
      'groupCreated',
      'membersRemoved',
      'groupDismissed',
    ]);
    expect(g2Events[2]!.value).to.deep.equal({ groupId: g2, operatorId: a });

    // A repeated delivery (the outbox is at least once) changes nothing and emits nothing.
    await c().group.forgetUser({ userId: a });
    await c().conversation.forgetUser({ userId: a });
    await c().presence.forgetUser({ userId: a });
    await c().message.forgetUser({ userId: a, eraseContent: false });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await suite.events.read()).length).to.equal(all.length);
    expect((await c().group.getGroup({ groupId: g1 })).group).to.deep.include({
      ownerId: b,
      memberCount: 1,
    });
  });

  it("the message service's known-users cache: a second replica refuses a deleted user at once", async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const replica = await suite.stack.startReplica('message');
    const second = createMessageServiceClient(replica.address, {
      timeoutMs: TEST_CLIENT_TIMEOUT_MS,
    });
    try {
      // Both replicas now know both users (each keeps its own cache of known users).
      await h.send(a, SINGLE, b, 'one');
      await h.send(b, SINGLE, a, 'two', undefined, second);
      await h.send(a, SINGLE, b, 'three', undefined, second);

      await c().user.deleteUser({ userId: a });

      await expectGrpcError(
        h.send(b, SINGLE, a, 'to a', undefined, second),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      await expectGrpcError(
        h.send(a, SINGLE, b, 'from a', undefined, second),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      await expectGrpcError(h.send(b, SINGLE, a, 'to a'), GrpcStatus.NOT_FOUND, 'USER_NOT_FOUND');
    } finally {
      second.close();
      await replica.stop();
    }
  });

  it('a replica whose Redis is down refuses a deleted user too (the check is on MySQL)', async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const replica = await suite.stack.startReplica('message', (config) => ({
      ...config,
      redis: { ...config.redis, port: 1, command_timeout_ms: 200 },
    }));
    const noRedis = createMessageServiceClient(replica.address, {
      timeoutMs: TEST_CLIENT_TIMEOUT_MS,
    });
    try {
      const sent = await h.send(a, SINGLE, b, 'before', undefined, noRedis);
      await c().user.deleteUser({ userId: a });
      await expectGrpcError(
        h.send(a, SINGLE, b, 'before', sent.message!.clientMsgId, noRedis),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      await expectGrpcError(
        h.send(b, SINGLE, a, 'to a', undefined, noRedis),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
    } finally {
      noRedis.close();
      await replica.stop();
    }
  });

  it('a group member deleted is refused in the group at once, before the group service follows', async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const g = await h.groupOf(b, [a]);
    await h.send(a, GROUP, g, 'hi');
    await suite.stack.stopService('group');
    try {
      await c().user.deleteUser({ userId: a });
      await expectGrpcError(h.send(a, GROUP, g, 'again'), GrpcStatus.NOT_FOUND, 'USER_NOT_FOUND');
    } finally {
      await suite.stack.startService('group');
    }
    await waitFor(async () => !(await h.memberIds(g)).includes(a), {
      timeoutMs: FOLLOW_UP_MS,
      what: 'the user to leave the group once the group service is back',
    });
  });

  it('completes once the group and conversation services are back when they were down', async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const g = await h.groupOf(a, [b]);
    await h.send(a, SINGLE, b, 'hi');
    await suite.stack.stopService('group');
    await suite.stack.stopService('conversation');
    try {
      await c().user.deleteUser({ userId: a });
      await expectGrpcError(c().user.getUser({ userId: a }), GrpcStatus.NOT_FOUND);
      // Longer than one retry backoff: the rows wait in the outbox.
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      await suite.stack.startService('conversation');
      await suite.stack.startService('group');
    }
    await waitFor(
      async () => {
        const { group } = await c().group.getGroup({ groupId: g });
        return group!.ownerId === b && group!.memberCount === 1;
      },
      { timeoutMs: FOLLOW_UP_MS, what: 'the group to pass to b' },
    );
    await waitFor(
      async () =>
        (await c().conversation.listConversations({ userId: a, pageSize: 0, pageToken: '' }))
          .conversations.length === 0,
      { timeoutMs: FOLLOW_UP_MS, what: 'the conversation list to be empty' },
    );
  });
});

describe('DeleteUser with USER_DELETE_ERASES_CONTENT=true', function () {
  this.timeout(120_000);
  let env: TestEnvironment;
  let stack: Stack;
  const h = helpers(() => stack);
  const { c } = h;

  before(async () => {
    env = await createTestEnvironment('e2e-erase');
    stack = await Stack.start(env, { user: { user: { delete_erases_content: true } } });
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('every message the user sent becomes DELETED with empty content, seq kept; heads and lists too', async () => {
    const a = await h.register('a');
    const b = await h.register('b');
    const g = await h.groupOf(b, [a]);
    const single = singleConversationId(a, b);
    const group = groupConversationId(g);
    await h.send(a, SINGLE, b, 'a1');
    await h.send(b, SINGLE, a, 'b1');
    await h.send(a, SINGLE, b, 'a2');
    await h.send(b, GROUP, g, 'b-in-g');
    const recalled = await h.send(a, GROUP, g, 'recalled');
    await c().message.recallMessage({ operatorId: a, conversationId: group, seq: 2 });
    expect(recalled.message!.seq).to.equal(2);
    await h.send(a, GROUP, g, 'a-in-g');

    await c().user.deleteUser({ userId: a });

    const pull = async (conversationId: string) =>
      (
        await c().message.pullMessages({
          userId: b,
          conversationId,
          beginSeq: 0,
          endSeq: 0,
          limit: 0,
          descending: false,
        })
      ).messages.map((m) => [m.seq, m.senderId, m.status, m.content.toString()]);
    const D = MessageStatus.MESSAGE_STATUS_DELETED;
    const N = MessageStatus.MESSAGE_STATUS_NORMAL;
    await waitFor(async () => (await pull(group)).every((m) => m[1] !== a || m[2] === D), {
      timeoutMs: FOLLOW_UP_MS,
      what: 'the erasure',
    });
    expect(await pull(single)).to.deep.equal([
      [1, a, D, ''],
      [2, b, N, 'b1'],
      [3, a, D, ''],
    ]);
    expect(await pull(group)).to.deep.equal([
      [1, b, N, 'b-in-g'],
      [2, a, D, ''],
      [3, a, D, ''],
    ]);
    // The heads (and so the lists) keep no content either.
    const { heads } = await c().message.getConversationHeads({
      conversationIds: [single, group],
      maxSeqOnlyIds: [],
    });
    expect(
      heads.map((x) => [x.maxSeq, x.lastMessage!.status, x.lastMessage!.content.length]),
    ).to.deep.equal([
      [3, D, 0],
      [3, D, 0],
    ]);
    const { conversations } = await c().conversation.listConversations({
      userId: b,
      pageSize: 0,
      pageToken: '',
    });
    for (const conv of conversations) {
      expect(conv.lastMessage!.status).to.equal(D);
      expect(conv.lastMessage!.content.length).to.equal(0);
    }
  });
});
