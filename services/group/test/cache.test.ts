import { expect } from 'chai';
import { GroupRole, GroupStatus } from '@im-repo/proto/group';
import {
  deleteRedisPrefix,
  expectGrpcError,
  freePort,
  GrpcStatus,
  type TestEnvironment,
} from '@im-repo/testing';
import { groupKey, memberKey } from '../src/group.cache-keys';
import { castGroup, type Cast } from './fixtures';
import {
  useGroupSuite,
  makeUsers,
  startGroupService,
  uniqueId,
  type GroupService,
  type Peers,
} from './harness';

describe('GroupService: cached reads and their invalidation', () => {
  let env: TestEnvironment;
  let peers: Peers;
  /** Writes go here... */
  let a: GroupService;
  /** ...and reads here: another replica sharing MySQL and Redis. */
  let b: GroupService;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ env, peers, svc: a } = await suite.start());
    b = await suite.service();
  });

  const cached = async (key: string) => (await b.deps.redis.exists(key)) === 1;

  /** Reads through b so its caches hold the member and the group, and checks they do. */
  const warm = async (c: Cast, userId: string) => {
    await b.client.getGroup({ groupId: c.groupId });
    await b.client.getMember({ groupId: c.groupId, userId }).catch(() => undefined);
    await b.client.checkSendPermission({ groupId: c.groupId, userId }).catch(() => undefined);
    expect(await cached(groupKey(c.groupId))).to.equal(true);
    expect(await cached(memberKey(c.groupId, userId))).to.equal(true);
  };

  const send = (s: GroupService, c: Cast, userId: string) =>
    s.client.checkSendPermission({ groupId: c.groupId, userId });

  it('serves GetMember and CheckSendPermission from Redis (the entries are there after a read)', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    // A non-member is cached too (negative caching), under the same hash tag as the group.
    await warm(c, c.outsider);
    expect(memberKey(c.groupId, c.member)).to.include(`{${c.groupId}}`);
  });

  it('mute and unmute are seen at once by GetMember and CheckSendPermission on the other replica', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    await a.client.muteMember({
      operatorId: c.admin,
      groupId: c.groupId,
      userId: c.member,
      durationSeconds: 600,
    });
    const { member } = await b.client.getMember({ groupId: c.groupId, userId: c.member });
    expect(member!.mutedUntil!.getTime()).to.be.greaterThan(Date.now());
    await expectGrpcError(send(b, c, c.member), GrpcStatus.PERMISSION_DENIED, 'MEMBER_MUTED');
    await a.client.muteMember({
      operatorId: c.admin,
      groupId: c.groupId,
      userId: c.member,
      durationSeconds: 0,
    });
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
    expect(
      (await b.client.getMember({ groupId: c.groupId, userId: c.member })).member!.mutedUntil,
    ).to.equal(undefined);
  });

  it('a role change is seen at once', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    await a.client.setMemberRole({
      operatorId: c.owner,
      groupId: c.groupId,
      userId: c.member,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });
    expect(
      (await b.client.getMember({ groupId: c.groupId, userId: c.member })).member!.role,
    ).to.equal(GroupRole.GROUP_ROLE_ADMIN);
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
  });

  it('removal and leaving are seen at once', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    await warm(c, c.member2);
    await a.client.removeMembers({ operatorId: c.owner, groupId: c.groupId, userIds: [c.member] });
    await a.client.leaveGroup({ userId: c.member2, groupId: c.groupId });
    for (const userId of [c.member, c.member2]) {
      await expectGrpcError(
        b.client.getMember({ groupId: c.groupId, userId }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
      await expectGrpcError(send(b, c, userId), GrpcStatus.PERMISSION_DENIED, 'NOT_GROUP_MEMBER');
    }
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.memberCount).to.equal(3);
  });

  it('an added member is seen at once though "not a member" was cached', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.outsider);
    await expectGrpcError(send(b, c, c.outsider), GrpcStatus.PERMISSION_DENIED);
    await a.client.addMembers({ operatorId: c.owner, groupId: c.groupId, userIds: [c.outsider] });
    expect((await send(b, c, c.outsider)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.memberCount).to.equal(6);
  });

  it('a transfer is seen at once: new owner sends under all_muted, old owner is an admin', async () => {
    const c = await castGroup(a, peers);
    await a.client.setGroupMuted({ operatorId: c.owner, groupId: c.groupId, muted: true });
    await warm(c, c.member);
    await warm(c, c.owner);
    await expectGrpcError(send(b, c, c.member), GrpcStatus.PERMISSION_DENIED, 'MEMBER_MUTED');
    await a.client.transferOwnership({
      operatorId: c.owner,
      groupId: c.groupId,
      newOwnerId: c.member,
    });
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_OWNER);
    expect((await send(b, c, c.owner)).role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.ownerId).to.equal(c.member);
  });

  it('all_muted on and off is seen at once', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
    await a.client.setGroupMuted({ operatorId: c.admin, groupId: c.groupId, muted: true });
    await expectGrpcError(send(b, c, c.member), GrpcStatus.PERMISSION_DENIED, 'MEMBER_MUTED');
    expect((await send(b, c, c.admin)).role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
    await a.client.setGroupMuted({ operatorId: c.admin, groupId: c.groupId, muted: false });
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
  });

  it('dismissal and updates are seen at once', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    await a.client.updateGroup({ operatorId: c.owner, groupId: c.groupId, name: 'fresh name' });
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.name).to.equal('fresh name');
    await a.client.dismissGroup({ operatorId: c.owner, groupId: c.groupId });
    await expectGrpcError(send(b, c, c.member), GrpcStatus.FAILED_PRECONDITION, 'GROUP_DISMISSED');
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.status).to.equal(
      GroupStatus.GROUP_STATUS_DISMISSED,
    );
  });

  it('a group created with an id that was looked up before is found at once, members too', async () => {
    const groupId = uniqueId('later');
    const [owner, m] = makeUsers(peers, 2);
    await expectGrpcError(b.client.getGroup({ groupId }), GrpcStatus.NOT_FOUND, 'GROUP_NOT_FOUND');
    await expectGrpcError(
      b.client.checkSendPermission({ groupId, userId: m! }),
      GrpcStatus.NOT_FOUND,
      'GROUP_NOT_FOUND',
    );
    await a.client.createGroup({
      groupId,
      ownerId: owner!,
      name: 'later',
      avatarUrl: '',
      intro: '',
      memberIds: [m!],
    });
    expect((await b.client.getGroup({ groupId })).group!.memberCount).to.equal(2);
    expect((await b.client.checkSendPermission({ groupId, userId: m! })).role).to.equal(
      GroupRole.GROUP_ROLE_MEMBER,
    );
  });

  it('after Redis loses everything (flush) reads are rebuilt from MySQL', async () => {
    const c = await castGroup(a, peers);
    await warm(c, c.member);
    await a.client.muteMember({
      operatorId: c.owner,
      groupId: c.groupId,
      userId: c.admin,
      durationSeconds: 600,
    });
    await deleteRedisPrefix(env.redisPrefix);
    expect(await cached(groupKey(c.groupId))).to.equal(false);
    expect((await send(b, c, c.member)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
    await expectGrpcError(send(b, c, c.admin), GrpcStatus.PERMISSION_DENIED, 'MEMBER_MUTED');
    expect((await b.client.getGroup({ groupId: c.groupId })).group!.memberCount).to.equal(5);
  });

  it('with Redis unreachable, reads and writes are served from MySQL', async () => {
    const down = await startGroupService(env, peers, { redis: { port: await freePort() } });
    try {
      const c = await castGroup(down, peers, 'noredis');
      const { group } = await down.client.getGroup({ groupId: c.groupId });
      expect(group!.memberCount).to.equal(5);
      expect(
        (await down.client.getMember({ groupId: c.groupId, userId: c.admin })).member!.role,
      ).to.equal(GroupRole.GROUP_ROLE_ADMIN);
      await down.client.muteMember({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.member,
        durationSeconds: 60,
      });
      await expectGrpcError(send(down, c, c.member), GrpcStatus.PERMISSION_DENIED, 'MEMBER_MUTED');
      expect((await send(down, c, c.member2)).role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
      const { members } = await down.client.listMembers({
        groupId: c.groupId,
        pageSize: 0,
        pageToken: '',
      });
      expect(members).to.have.length(5);
      const errors =
        await down.deps.metrics.registry.getSingleMetricAsString('cache_requests_total');
      expect(errors).to.match(/result="error"\} [1-9]/);
    } finally {
      await down.stop();
    }
  });
});
