import { expect } from 'chai';
import { GroupRole, GroupStatus } from '@im-repo/proto/group';
import {
  decodeGrpcError,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { castGroup } from './fixtures';
import {
  useGroupSuite,
  countsOf,
  makeUsers,
  startGroupService,
  uniqueId,
  type GroupService,
  type Peers,
} from './harness';

describe('GroupService: groups and their lifecycle', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: GroupService;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ env, peers, svc } = await suite.start());
  });

  const create = (overrides: Partial<Parameters<typeof svc.client.createGroup>[0]> = {}) =>
    svc.client.createGroup({
      groupId: '',
      ownerId: makeUsers(peers, 1, 'owner')[0]!,
      name: 'a group',
      avatarUrl: '',
      intro: '',
      memberIds: [],
      ...overrides,
    });

  describe('CreateGroup', () => {
    it('creates an active group with a time-ordered id; the owner is OWNER, the rest MEMBER', async () => {
      const [owner, a, b] = makeUsers(peers, 3);
      const { group } = await create({
        ownerId: owner!,
        name: '家族 🐱',
        avatarUrl: 'https://a/b.png',
        intro: 'hello',
        memberIds: [a!, b!, a!, owner!], // duplicates and the owner collapse
      });
      const { group: second } = await create();
      expect(group!.groupId).to.match(/^[0-9A-Z]{26}$/);
      expect(second!.groupId > group!.groupId).to.equal(true);
      expect(group).to.include({
        name: '家族 🐱',
        avatarUrl: 'https://a/b.png',
        intro: 'hello',
        notice: '',
        ownerId: owner,
        memberCount: 3,
        status: GroupStatus.GROUP_STATUS_ACTIVE,
        allMuted: false,
      });
      expect(group!.createdAt!.getTime()).to.equal(group!.updatedAt!.getTime());
      expect((await svc.client.getGroup({ groupId: group!.groupId })).group).to.deep.equal(group);
      const { members } = await svc.client.listMembers({
        groupId: group!.groupId,
        pageSize: 0,
        pageToken: '',
      });
      const roles = Object.fromEntries(members.map((m) => [m.userId, m.role]));
      expect(roles).to.deep.equal({
        [owner!]: GroupRole.GROUP_ROLE_OWNER,
        [a!]: GroupRole.GROUP_ROLE_MEMBER,
        [b!]: GroupRole.GROUP_ROLE_MEMBER,
      });
      expect(await countsOf(svc, group!.groupId)).to.deep.equal({ memberCount: 3, rows: 3 });
    });

    it('keeps a caller-chosen id; a taken one is ALREADY_EXISTS GROUP_ID_TAKEN', async () => {
      const groupId = uniqueId('chosen');
      const { group } = await create({ groupId });
      expect(group!.groupId).to.equal(groupId);
      await expectGrpcError(create({ groupId }), GrpcStatus.ALREADY_EXISTS, 'GROUP_ID_TAKEN');
    });

    it('rejects unknown users with NOT_FOUND USER_NOT_FOUND naming them, writing nothing', async () => {
      const [known] = makeUsers(peers, 1);
      const groupId = uniqueId('nobody');
      const err = await expectGrpcError(
        create({ groupId, memberIds: [known!, 'ghost-1', 'ghost-2'] }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(err.metadata.user_ids).to.equal('ghost-1,ghost-2');
      expect(err.message).to.include('ghost-1').and.include('ghost-2');
      expect(err.domain).to.equal('im.group.v1');
      const owner = await expectGrpcError(
        create({ groupId, ownerId: 'ghost-owner' }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(owner.metadata.user_ids).to.equal('ghost-owner');
      await expectGrpcError(svc.client.getGroup({ groupId }), GrpcStatus.NOT_FOUND);
    });

    it('asks the user service in chunks of at most 500 ids', async () => {
      const members = makeUsers(peers, 500, 'chunk');
      const before = peers.batchCalls.length;
      const { group } = await create({ memberIds: members });
      expect(group!.memberCount).to.equal(501);
      const calls = peers.batchCalls.slice(before);
      expect(calls.map((c) => c.length).sort((x, y) => y - x)).to.deep.equal([500, 1]);
    });

    it('takes at most 500 ids per call, counted as sent (duplicates included): CreateGroup, AddMembers, RemoveMembers', async () => {
      const [one] = makeUsers(peers, 1, 'cap');
      const tooMany = Array.from({ length: 501 }, () => one!);
      const before = peers.batchCalls.length;
      const err = await expectGrpcError(
        create({ memberIds: tooMany }),
        GrpcStatus.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      );
      expect(err.metadata.field).to.equal('member_ids');
      expect(peers.batchCalls.length).to.equal(before);
      const { group } = await create({ memberIds: tooMany.slice(0, 500) });
      expect(group!.memberCount).to.equal(2);
      for (const call of [svc.client.addMembers, svc.client.removeMembers]) {
        const capped = await expectGrpcError(
          call({ operatorId: group!.ownerId, groupId: group!.groupId, userIds: tooMany }),
          GrpcStatus.INVALID_ARGUMENT,
          'INVALID_ARGUMENT',
        );
        expect(capped.metadata.field).to.equal('user_ids');
      }
      expect(
        await svc.client.getMember({ groupId: group!.groupId, userId: one! }),
      ).to.have.property('member');
      await svc.client.removeMembers({
        operatorId: group!.ownerId,
        groupId: group!.groupId,
        userIds: tooMany.slice(0, 500),
      });
      expect((await svc.client.getGroup({ groupId: group!.groupId })).group!.memberCount).to.equal(
        1,
      );
    });

    it('is UNAVAILABLE, not INTERNAL, when the user service is down', async () => {
      const other = await startGroupService(env, peers, {
        peers: { user: '127.0.0.1:1', timeout_ms: 500 },
      });
      try {
        await expectGrpcError(
          other.client.createGroup({
            groupId: '',
            ownerId: makeUsers(peers, 1)[0]!,
            name: 'x',
            avatarUrl: '',
            intro: '',
            memberIds: [],
          }),
          GrpcStatus.UNAVAILABLE,
        );
      } finally {
        await other.stop();
      }
    });
  });

  describe('GetGroup', () => {
    it('is NOT_FOUND GROUP_NOT_FOUND for an unknown group, and sees a group created after that', async () => {
      const groupId = uniqueId('late');
      await expectGrpcError(
        svc.client.getGroup({ groupId }),
        GrpcStatus.NOT_FOUND,
        'GROUP_NOT_FOUND',
      );
      await create({ groupId });
      expect((await svc.client.getGroup({ groupId })).group!.groupId).to.equal(groupId);
    });
  });

  describe('UpdateGroup', () => {
    it('changes only the set fields, moves updated_at, and the next read sees it', async () => {
      const c = await castGroup(svc, peers);
      const { group: before } = await svc.client.getGroup({ groupId: c.groupId });
      await new Promise((r) => setTimeout(r, 5));
      const { group } = await svc.client.updateGroup({
        operatorId: c.admin,
        groupId: c.groupId,
        notice: 'read the rules',
        intro: 'about us',
      });
      expect(group).to.include({
        name: before!.name,
        avatarUrl: before!.avatarUrl,
        intro: 'about us',
        notice: 'read the rules',
      });
      expect(group!.updatedAt!.getTime()).to.be.greaterThan(before!.updatedAt!.getTime());
      expect((await svc.client.getGroup({ groupId: c.groupId })).group).to.deep.equal(group);
      const { group: renamed } = await svc.client.updateGroup({
        operatorId: c.owner,
        groupId: c.groupId,
        name: 'renamed',
        notice: '',
      });
      expect(renamed).to.include({ name: 'renamed', notice: '', intro: 'about us' });
    });

    it('with nothing set returns the group unchanged (still checking the operator)', async () => {
      const c = await castGroup(svc, peers);
      const { group } = await svc.client.getGroup({ groupId: c.groupId });
      const { group: same } = await svc.client.updateGroup({
        operatorId: c.owner,
        groupId: c.groupId,
      });
      expect(same).to.deep.equal(group);
      await expectGrpcError(
        svc.client.updateGroup({ operatorId: c.member, groupId: c.groupId }),
        GrpcStatus.PERMISSION_DENIED,
        'INSUFFICIENT_ROLE',
      );
    });
  });

  describe('DismissGroup and the dismissed state', () => {
    it("marks the group DISMISSED; reads still work; it leaves the members' group lists", async () => {
      const c = await castGroup(svc, peers);
      await svc.client.dismissGroup({ operatorId: c.owner, groupId: c.groupId });
      const { group } = await svc.client.getGroup({ groupId: c.groupId });
      expect(group!.status).to.equal(GroupStatus.GROUP_STATUS_DISMISSED);
      expect(group!.memberCount).to.equal(5);
      const { member } = await svc.client.getMember({ groupId: c.groupId, userId: c.member });
      expect(member!.role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
      const { members } = await svc.client.listMembers({
        groupId: c.groupId,
        pageSize: 0,
        pageToken: '',
      });
      expect(members).to.have.length(5);
      const { groups } = await svc.client.listUserGroups({
        userId: c.member,
        pageSize: 0,
        pageToken: '',
      });
      expect(groups.map((g) => g.groupId)).not.to.include(c.groupId);
      await expectGrpcError(
        svc.client.checkSendPermission({ groupId: c.groupId, userId: c.owner }),
        GrpcStatus.FAILED_PRECONDITION,
        'GROUP_DISMISSED',
      );
    });

    it('rejects every mutating rpc with FAILED_PRECONDITION GROUP_DISMISSED, whoever calls or is targeted', async () => {
      const c = await castGroup(svc, peers);
      const [fresh] = makeUsers(peers, 1);
      await svc.client.dismissGroup({ operatorId: c.owner, groupId: c.groupId });
      const groupId = c.groupId;
      const { group: before } = await svc.client.getGroup({ groupId });
      for (const op of [c.owner, c.admin, c.member, c.outsider, 'not-a-user']) {
        const calls: (() => Promise<unknown>)[] = [
          () => svc.client.updateGroup({ operatorId: op, groupId, name: 'x' }),
          () => svc.client.dismissGroup({ operatorId: op, groupId }),
          () => svc.client.addMembers({ operatorId: op, groupId, userIds: [fresh!] }),
          () => svc.client.removeMembers({ operatorId: op, groupId, userIds: [c.member2] }),
          () => svc.client.removeMembers({ operatorId: op, groupId, userIds: ['not-a-member'] }),
          () => svc.client.leaveGroup({ userId: op, groupId }),
          () =>
            svc.client.setMemberRole({
              operatorId: op,
              groupId,
              userId: c.member2,
              role: GroupRole.GROUP_ROLE_ADMIN,
            }),
          () =>
            svc.client.setMemberRole({
              operatorId: op,
              groupId,
              userId: 'not-a-member',
              role: GroupRole.GROUP_ROLE_ADMIN,
            }),
          () => svc.client.transferOwnership({ operatorId: op, groupId, newOwnerId: c.member2 }),
          () =>
            svc.client.transferOwnership({ operatorId: op, groupId, newOwnerId: 'not-a-member' }),
          () =>
            svc.client.muteMember({
              operatorId: op,
              groupId,
              userId: c.member2,
              durationSeconds: 9,
            }),
          () =>
            svc.client.muteMember({ operatorId: op, groupId, userId: 'nope', durationSeconds: 0 }),
          () => svc.client.setGroupMuted({ operatorId: op, groupId, muted: true }),
        ];
        for (const call of calls) {
          await expectGrpcError(call(), GrpcStatus.FAILED_PRECONDITION, 'GROUP_DISMISSED');
        }
      }
      expect((await svc.client.getGroup({ groupId })).group).to.deep.equal(before);
    });

    it('on an unknown group every mutating rpc is NOT_FOUND GROUP_NOT_FOUND', async () => {
      const groupId = uniqueId('missing');
      const [u] = makeUsers(peers, 1);
      const calls: (() => Promise<unknown>)[] = [
        () => svc.client.updateGroup({ operatorId: u!, groupId, name: 'x' }),
        () => svc.client.dismissGroup({ operatorId: u!, groupId }),
        () => svc.client.addMembers({ operatorId: u!, groupId, userIds: [u!] }),
        () => svc.client.removeMembers({ operatorId: u!, groupId, userIds: [u!] }),
        () => svc.client.leaveGroup({ userId: u!, groupId }),
        () =>
          svc.client.setMemberRole({
            operatorId: u!,
            groupId,
            userId: u!,
            role: GroupRole.GROUP_ROLE_ADMIN,
          }),
        () => svc.client.transferOwnership({ operatorId: u!, groupId, newOwnerId: u! }),
        () => svc.client.muteMember({ operatorId: u!, groupId, userId: u!, durationSeconds: 1 }),
        () => svc.client.setGroupMuted({ operatorId: u!, groupId, muted: true }),
        () => svc.client.getMember({ groupId, userId: u! }),
        () => svc.client.listMembers({ groupId, pageSize: 0, pageToken: '' }),
        () => svc.client.checkSendPermission({ groupId, userId: u! }),
      ];
      for (const call of calls) {
        await expectGrpcError(call(), GrpcStatus.NOT_FOUND, 'GROUP_NOT_FOUND');
      }
    });
  });

  describe('LeaveGroup', () => {
    it('removes the member and lowers member_count; the owner must transfer first', async () => {
      const c = await castGroup(svc, peers);
      await svc.client.leaveGroup({ userId: c.member, groupId: c.groupId });
      await expectGrpcError(
        svc.client.getMember({ groupId: c.groupId, userId: c.member }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 4, rows: 4 });
      await svc.client.leaveGroup({ userId: c.admin, groupId: c.groupId });
      await expectGrpcError(
        svc.client.leaveGroup({ userId: c.owner, groupId: c.groupId }),
        GrpcStatus.FAILED_PRECONDITION,
        'OWNER_CANNOT_LEAVE',
      );
      await expectGrpcError(
        svc.client.leaveGroup({ userId: c.member, groupId: c.groupId }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
      await expectGrpcError(
        svc.client.leaveGroup({ userId: 'never-a-user', groupId: c.groupId }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 3, rows: 3 });
    });
  });

  describe('TransferOwnership', () => {
    it('makes the new owner OWNER (unmuted) and the old owner ADMIN, who may then leave', async () => {
      const c = await castGroup(svc, peers);
      await svc.client.muteMember({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.member,
        durationSeconds: 3600,
      });
      const { group } = await svc.client.transferOwnership({
        operatorId: c.owner,
        groupId: c.groupId,
        newOwnerId: c.member,
      });
      expect(group!.ownerId).to.equal(c.member);
      const newOwner = (await svc.client.getMember({ groupId: c.groupId, userId: c.member }))
        .member!;
      expect(newOwner.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
      expect(newOwner.mutedUntil).to.equal(undefined);
      const old = (await svc.client.getMember({ groupId: c.groupId, userId: c.owner })).member!;
      expect(old.role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
      await expectGrpcError(
        svc.client.dismissGroup({ operatorId: c.owner, groupId: c.groupId }),
        GrpcStatus.PERMISSION_DENIED,
        'INSUFFICIENT_ROLE',
      );
      await svc.client.leaveGroup({ userId: c.owner, groupId: c.groupId });
      expect((await svc.client.getGroup({ groupId: c.groupId })).group!.memberCount).to.equal(4);
    });

    it('to a non-member is NOT_FOUND NOT_GROUP_MEMBER; to the owner themselves changes nothing', async () => {
      const c = await castGroup(svc, peers);
      await expectGrpcError(
        svc.client.transferOwnership({
          operatorId: c.owner,
          groupId: c.groupId,
          newOwnerId: c.outsider,
        }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
      const { group: before } = await svc.client.getGroup({ groupId: c.groupId });
      const { group } = await svc.client.transferOwnership({
        operatorId: c.owner,
        groupId: c.groupId,
        newOwnerId: c.owner,
      });
      expect(group).to.deep.equal(before);
      const owner = (await svc.client.getMember({ groupId: c.groupId, userId: c.owner })).member!;
      expect(owner.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
    });
  });

  describe('SetMemberRole', () => {
    it('promotes and demotes; setting the current role again is a no-op', async () => {
      const c = await castGroup(svc, peers);
      const up = await svc.client.setMemberRole({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.member,
        role: GroupRole.GROUP_ROLE_ADMIN,
      });
      expect(up.member).to.include({ userId: c.member, role: GroupRole.GROUP_ROLE_ADMIN });
      const down = await svc.client.setMemberRole({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.admin,
        role: GroupRole.GROUP_ROLE_MEMBER,
      });
      expect(down.member!.role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
      const again = await svc.client.setMemberRole({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.admin,
        role: GroupRole.GROUP_ROLE_MEMBER,
      });
      expect(again.member).to.deep.equal(down.member);
      expect(
        (await svc.client.getMember({ groupId: c.groupId, userId: c.member })).member!.role,
      ).to.equal(GroupRole.GROUP_ROLE_ADMIN);
    });
  });

  describe('MuteMember and CheckSendPermission', () => {
    it('mutes until now + duration; 0 unmutes; a muted admin cannot send either', async () => {
      const c = await castGroup(svc, peers);
      const t0 = Date.now();
      const { member } = await svc.client.muteMember({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.admin,
        durationSeconds: 600,
      });
      const until = member!.mutedUntil!.getTime();
      expect(until).to.be.within(t0 + 600_000 - 1000, Date.now() + 600_000 + 1000);
      await expectGrpcError(
        svc.client.checkSendPermission({ groupId: c.groupId, userId: c.admin }),
        GrpcStatus.PERMISSION_DENIED,
        'MEMBER_MUTED',
      );
      const { member: unmuted } = await svc.client.muteMember({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.admin,
        durationSeconds: 0,
      });
      expect(unmuted!.mutedUntil).to.equal(undefined);
      const { role } = await svc.client.checkSendPermission({
        groupId: c.groupId,
        userId: c.admin,
      });
      expect(role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
    });

    it('a mute expires by itself (judged at read time)', async () => {
      const c = await castGroup(svc, peers);
      await svc.client.muteMember({
        operatorId: c.admin,
        groupId: c.groupId,
        userId: c.member,
        durationSeconds: 1,
      });
      await expectGrpcError(
        svc.client.checkSendPermission({ groupId: c.groupId, userId: c.member }),
        GrpcStatus.PERMISSION_DENIED,
        'MEMBER_MUTED',
      );
      await waitFor(
        async () =>
          (await svc.client.checkSendPermission({ groupId: c.groupId, userId: c.member })).role ===
          GroupRole.GROUP_ROLE_MEMBER,
        { timeoutMs: 5000, what: 'the mute to expire' },
      );
      const { member } = await svc.client.getMember({ groupId: c.groupId, userId: c.member });
      expect(member!.mutedUntil).to.equal(undefined);
    });

    it('all_muted stops plain members only; the owner is never muted', async () => {
      const c = await castGroup(svc, peers);
      const { group } = await svc.client.setGroupMuted({
        operatorId: c.admin,
        groupId: c.groupId,
        muted: true,
      });
      expect(group!.allMuted).to.equal(true);
      const err = await expectGrpcError(
        svc.client.checkSendPermission({ groupId: c.groupId, userId: c.member }),
        GrpcStatus.PERMISSION_DENIED,
        'MEMBER_MUTED',
      );
      expect(err.domain).to.equal('im.group.v1');
      const check = async (userId: string) =>
        (await svc.client.checkSendPermission({ groupId: c.groupId, userId })).role;
      expect(await check(c.admin)).to.equal(GroupRole.GROUP_ROLE_ADMIN);
      expect(await check(c.owner)).to.equal(GroupRole.GROUP_ROLE_OWNER);
      const { group: open } = await svc.client.setGroupMuted({
        operatorId: c.owner,
        groupId: c.groupId,
        muted: false,
      });
      expect(open!.allMuted).to.equal(false);
      expect(await check(c.member)).to.equal(GroupRole.GROUP_ROLE_MEMBER);
    });

    it('CheckSendPermissions answers each user, in order, exactly as CheckSendPermission would', async () => {
      const c = await castGroup(svc, peers);
      await svc.client.muteMember({
        operatorId: c.owner,
        groupId: c.groupId,
        userId: c.admin,
        durationSeconds: 600,
      });
      const single = async (groupId: string, userId: string) =>
        svc.client.checkSendPermission({ groupId, userId }).then(
          ({ role }) => ({ userId, role, refusal: undefined }),
          (err: unknown) => {
            const e = decodeGrpcError(err);
            const refusal = {
              code: e.code,
              reason: e.reason,
              message: e.message,
              metadata: e.metadata,
            };
            return { userId, role: GroupRole.GROUP_ROLE_UNSPECIFIED, refusal };
          },
        );
      const users = [c.owner, c.admin, c.member, c.outsider, 'not-a-user', c.member];
      const { results } = await svc.client.checkSendPermissions({
        groupId: c.groupId,
        userIds: users,
      });
      expect(results).to.deep.equal(await Promise.all(users.map((u) => single(c.groupId, u))));
      expect(results.map((r) => r.refusal?.reason ?? r.role)).to.deep.equal([
        GroupRole.GROUP_ROLE_OWNER,
        'MEMBER_MUTED',
        GroupRole.GROUP_ROLE_MEMBER,
        'NOT_GROUP_MEMBER',
        'NOT_GROUP_MEMBER',
        GroupRole.GROUP_ROLE_MEMBER,
      ]);
      // all_muted and a dismissed or unknown group, likewise.
      await svc.client.setGroupMuted({ operatorId: c.owner, groupId: c.groupId, muted: true });
      const muted = await svc.client.checkSendPermissions({ groupId: c.groupId, userIds: users });
      expect(muted.results).to.deep.equal(
        await Promise.all(users.map((u) => single(c.groupId, u))),
      );
      await svc.client.dismissGroup({ operatorId: c.owner, groupId: c.groupId });
      for (const groupId of [c.groupId, 'no-such-group']) {
        const { results: gone } = await svc.client.checkSendPermissions({
          groupId,
          userIds: users,
        });
        expect(gone).to.deep.equal(await Promise.all(users.map((u) => single(groupId, u))));
        expect(gone[0]!.refusal!.reason).to.equal(
          groupId === c.groupId ? 'GROUP_DISMISSED' : 'GROUP_NOT_FOUND',
        );
      }
    });

    it('CheckSendPermissions refuses a bad group_id or user_id, an empty list and over 256 ids', async () => {
      const c = await castGroup(svc, peers);
      await expectGrpcError(
        svc.client.checkSendPermissions({ groupId: 'bad id', userIds: [c.owner] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      await expectGrpcError(
        svc.client.checkSendPermissions({ groupId: c.groupId, userIds: [c.owner, 'bad id'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      await expectGrpcError(
        svc.client.checkSendPermissions({ groupId: c.groupId, userIds: [] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      await expectGrpcError(
        svc.client.checkSendPermissions({
          groupId: c.groupId,
          userIds: Array.from({ length: 257 }, () => c.owner),
        }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      const { results } = await svc.client.checkSendPermissions({
        groupId: c.groupId,
        userIds: Array.from({ length: 256 }, () => c.owner),
      });
      expect(results).to.have.length(256);
    });

    it('a non-member may not send: PERMISSION_DENIED NOT_GROUP_MEMBER', async () => {
      const c = await castGroup(svc, peers);
      for (const userId of [c.outsider, 'not-a-user']) {
        await expectGrpcError(
          svc.client.checkSendPermission({ groupId: c.groupId, userId }),
          GrpcStatus.PERMISSION_DENIED,
          'NOT_GROUP_MEMBER',
        );
      }
    });
  });

  describe('GetMember', () => {
    it('returns the member; a non-member is NOT_FOUND NOT_GROUP_MEMBER', async () => {
      const c = await castGroup(svc, peers);
      const { member } = await svc.client.getMember({ groupId: c.groupId, userId: c.admin });
      expect(member).to.include({
        groupId: c.groupId,
        userId: c.admin,
        role: GroupRole.GROUP_ROLE_ADMIN,
      });
      expect(member!.joinedAt).to.be.instanceOf(Date);
      expect(member!.mutedUntil).to.equal(undefined);
      await expectGrpcError(
        svc.client.getMember({ groupId: c.groupId, userId: c.outsider }),
        GrpcStatus.NOT_FOUND,
        'NOT_GROUP_MEMBER',
      );
    });
  });
});
