import { singleConversationId, groupConversationId } from '@im-repo/proto';
import { GroupRole } from '@im-repo/proto/group';
import { ContentType, ConversationType, MessageStatus } from '@im-repo/proto/message';
import { Platform } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  redisKeysWithoutTtl,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { Stack } from './stack';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;

describe('im-repo end to end (all five services, real MariaDB and Redis)', function () {
  this.timeout(60_000);
  let env: TestEnvironment;
  let stack: Stack;
  let n = 0;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('e2e');
    stack = await Stack.start(env, { message: { message: { recall_window_seconds: 120 } } });
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  const c = () => stack.clients;
  const register = async (label: string) => {
    const userId = `${label}-${run}-${n++}`;
    await c().user.register({
      userId,
      username: userId.replace(/-/g, '_').slice(0, 32),
      password: 'password-1',
      nickname: label,
      avatarUrl: '',
    });
    return userId;
  };
  const send = (
    senderId: string,
    type: ConversationType,
    recipientId: string,
    text: string,
    clientMsgId = `m-${run}-${n++}`,
  ) =>
    c().message.sendMessage({
      clientMsgId,
      senderId,
      conversationType: type,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(text),
    });
  const list = (userId: string) =>
    c().conversation.listConversations({ userId, pageSize: 200, pageToken: '' });
  const find = async (userId: string, conversationId: string) =>
    (await list(userId)).conversations.find((x) => x.conversationId === conversationId);

  it('single chat: both see the conversation at once; own messages are never unread; hide and un-hide', async () => {
    const alice = await register('alice');
    const bob = await register('bob');
    const cid = singleConversationId(alice, bob);

    const { message } = await send(alice, SINGLE, bob, 'hi bob');
    expect(message!.seq).to.equal(1);
    // Read-your-writes across services: visible as soon as SendMessage returned.
    const forAlice = await find(alice, cid);
    const forBob = await find(bob, cid);
    expect(forAlice).to.include({ peerId: bob, maxSeq: 1, readSeq: 1, unreadCount: 0 });
    expect(forBob).to.include({ peerId: alice, maxSeq: 1, unreadCount: 1 });
    expect(forBob!.lastMessage!.content.toString()).to.equal('hi bob');
    expect((await c().conversation.getTotalUnread({ userId: bob })).totalUnread).to.equal(1);

    // Sending marks the conversation read for the sender up to the new seq.
    await send(bob, SINGLE, alice, 'hi alice');
    expect(await find(bob, cid)).to.include({ maxSeq: 2, readSeq: 2, unreadCount: 0 });
    expect(await find(alice, cid)).to.include({ maxSeq: 2, unreadCount: 1 });

    await c().conversation.markRead({ userId: alice, conversationId: cid, readSeq: 0 });
    expect(await find(alice, cid)).to.include({ readSeq: 2, unreadCount: 0 });

    await send(bob, SINGLE, alice, 'one more');
    expect((await c().conversation.getTotalUnread({ userId: alice })).totalUnread).to.equal(1);
    await c().conversation.hideConversation({ userId: alice, conversationId: cid });
    expect(await find(alice, cid)).to.equal(undefined);
    expect((await c().conversation.getTotalUnread({ userId: alice })).totalUnread).to.equal(0);
    await send(bob, SINGLE, alice, 'are you there?');
    expect(await find(alice, cid)).to.include({ maxSeq: 4, unreadCount: 1 });
  });

  it('group chat: members see the group from the moment they join; sends and unread counts', async () => {
    const owner = await register('owner');
    const members = await Promise.all([1, 2, 3, 4].map(() => register('member')));
    const { group } = await c().group.createGroup({
      groupId: '',
      ownerId: owner,
      name: 'e2e group',
      avatarUrl: '',
      intro: '',
      memberIds: members,
    });
    const cid = groupConversationId(group!.groupId);

    for (const u of [owner, ...members]) {
      expect(await find(u, cid), u).to.include({
        conversationType: GROUP,
        peerId: group!.groupId,
        maxSeq: 0,
        unreadCount: 0,
      });
    }
    await send(owner, GROUP, group!.groupId, 'welcome');
    await send(members[0]!, GROUP, group!.groupId, 'thanks');
    expect(await find(owner, cid)).to.include({ maxSeq: 2, unreadCount: 1 });
    expect(await find(members[0]!, cid)).to.include({ maxSeq: 2, readSeq: 2, unreadCount: 0 });
    expect(await find(members[1]!, cid)).to.include({ maxSeq: 2, unreadCount: 2 });

    // A late joiner starts fully read.
    const late = await register('late');
    await c().group.addMembers({ operatorId: owner, groupId: group!.groupId, userIds: [late] });
    expect(await find(late, cid)).to.include({ maxSeq: 2, readSeq: 2, unreadCount: 0 });
    const { messages } = await c().message.pullMessages({
      userId: late,
      conversationId: cid,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
    });
    expect(messages.map((m) => m.seq)).to.deep.equal([1, 2]);
  });

  it('group rules reach the send path at once: mute, all-muted, removal, dismissal (relayed under im.message.v1)', async () => {
    const owner = await register('owner');
    const admin = await register('admin');
    const member = await register('member');
    const outsider = await register('outsider');
    const { group } = await c().group.createGroup({
      groupId: '',
      ownerId: owner,
      name: 'rules',
      avatarUrl: '',
      intro: '',
      memberIds: [admin, member],
    });
    const gid = group!.groupId;
    await c().group.setMemberRole({
      operatorId: owner,
      groupId: gid,
      userId: admin,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });

    await c().group.muteMember({
      operatorId: admin,
      groupId: gid,
      userId: member,
      durationSeconds: 600,
    });
    const muted = await expectGrpcError(
      send(member, GROUP, gid, 'x'),
      GrpcStatus.PERMISSION_DENIED,
      'MEMBER_MUTED',
    );
    expect(muted.domain).to.equal('im.message.v1');
    await c().group.muteMember({
      operatorId: admin,
      groupId: gid,
      userId: member,
      durationSeconds: 0,
    });
    await send(member, GROUP, gid, 'unmuted');

    await c().group.setGroupMuted({ operatorId: owner, groupId: gid, muted: true });
    await expectGrpcError(
      send(member, GROUP, gid, 'x'),
      GrpcStatus.PERMISSION_DENIED,
      'MEMBER_MUTED',
    );
    await send(admin, GROUP, gid, 'admins may speak');
    await c().group.setGroupMuted({ operatorId: owner, groupId: gid, muted: false });

    await expectGrpcError(
      send(outsider, GROUP, gid, 'x'),
      GrpcStatus.PERMISSION_DENIED,
      'NOT_GROUP_MEMBER',
    );
    await expectGrpcError(
      c().message.pullMessages({
        userId: outsider,
        conversationId: groupConversationId(gid),
        beginSeq: 0,
        endSeq: 0,
        limit: 0,
        descending: false,
      }),
      GrpcStatus.PERMISSION_DENIED,
      'NOT_GROUP_MEMBER',
    );
    await c().group.removeMembers({ operatorId: owner, groupId: gid, userIds: [member] });
    await expectGrpcError(
      send(member, GROUP, gid, 'x'),
      GrpcStatus.PERMISSION_DENIED,
      'NOT_GROUP_MEMBER',
    );

    await c().group.dismissGroup({ operatorId: owner, groupId: gid });
    await expectGrpcError(
      send(owner, GROUP, gid, 'x'),
      GrpcStatus.FAILED_PRECONDITION,
      'GROUP_DISMISSED',
    );
    await expectGrpcError(
      send(owner, GROUP, 'no-such-group', 'x'),
      GrpcStatus.NOT_FOUND,
      'GROUP_NOT_FOUND',
    );
    await expectGrpcError(
      send(owner, SINGLE, 'no-such-user', 'x'),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
  });

  it('recall by a group admin shows RECALLED with empty content in pulls, heads and the conversation list', async () => {
    const owner = await register('owner');
    const member = await register('member');
    const { group } = await c().group.createGroup({
      groupId: '',
      ownerId: owner,
      name: 'recall',
      avatarUrl: '',
      intro: '',
      memberIds: [member],
    });
    const cid = groupConversationId(group!.groupId);
    const { message } = await send(member, GROUP, group!.groupId, 'oops');
    const { message: recalled } = await c().message.recallMessage({
      operatorId: owner,
      conversationId: cid,
      seq: message!.seq,
    });
    expect(recalled).to.include({
      status: MessageStatus.MESSAGE_STATUS_RECALLED,
      seq: message!.seq,
    });
    expect(recalled!.content.length).to.equal(0);
    const last = (await find(owner, cid))!.lastMessage!;
    expect(last.status).to.equal(MessageStatus.MESSAGE_STATUS_RECALLED);
    expect(last.content.length).to.equal(0);
  });

  it('duplicate sends return the original and consume no seq, across the whole path', async () => {
    const a = await register('dup');
    const b = await register('dup');
    const first = await send(a, SINGLE, b, 'once', `dup-${run}`);
    const again = await send(a, SINGLE, b, 'different content', `dup-${run}`);
    expect(again.duplicate).to.equal(true);
    expect(again.message!.serverMsgId).to.equal(first.message!.serverMsgId);
    expect(again.message!.content.toString()).to.equal('once');
    expect(await find(b, singleConversationId(a, b))).to.include({ maxSeq: 1, unreadCount: 1 });
  });

  it('with the conversation service down, sends still succeed and their effects appear after it is back', async () => {
    const a = await register('outage');
    const b = await register('outage');
    const cid = singleConversationId(a, b);
    await stack.stopService('conversation');
    try {
      const { message } = await send(a, SINGLE, b, 'while down');
      expect(message!.seq).to.equal(1);
      await send(a, SINGLE, b, 'still down');
    } finally {
      await stack.startService('conversation');
    }
    const seen = await waitFor(() => find(b, cid), {
      timeoutMs: 20_000,
      what: "bob's conversation after the outage",
    });
    expect(seen).to.include({ maxSeq: 2, unreadCount: 2 });
    expect(
      await waitFor(async () => (await find(a, cid))?.readSeq === 2 && find(a, cid), {
        timeoutMs: 20_000,
      }),
    ).to.include({ unreadCount: 0 });
  });

  it('presence: heartbeat, status, offline', async () => {
    const u = await register('online');
    const { status } = await c().presence.heartbeat({
      userId: u,
      deviceId: 'phone',
      platform: Platform.PLATFORM_IOS,
      ttlSeconds: 60,
    });
    expect(status).to.include({ userId: u, online: true });
    const { statuses } = await c().presence.batchGetStatus({ userIds: [u, 'never-seen'] });
    expect(statuses.map((s) => s.online)).to.deep.equal([true, false]);
    const { status: off } = await c().presence.setOffline({ userId: u, deviceId: '' });
    expect(off!.online).to.equal(false);
    expect(off!.lastSeenAt).to.be.instanceOf(Date);
  });

  it('nothing in Redis lives forever: after all of the above, every key of the run has a TTL', async () => {
    // Paged lists leave a cursor; a heartbeat leaves presence keys behind a live device.
    const u = await register('ttl');
    await c().presence.heartbeat({
      userId: u,
      deviceId: 'tab',
      platform: Platform.PLATFORM_WEB,
      ttlSeconds: 60,
    });
    await c().conversation.listConversations({ userId: u, pageSize: 1, pageToken: '' });
    const { keys, withoutTtl } = await redisKeysWithoutTtl(env.redisPrefix);
    expect(keys).to.be.greaterThan(0);
    expect(withoutTtl).to.deep.equal([]);
  });
});
