import { GroupRole } from '@im-repo/proto/group';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { expect } from 'chai';
import { useGroupSuite, countsOf, makeUsers, type GroupService, type Peers } from './harness';

describe('GroupService.ForgetUser (a deleted user, from the user service)', () => {
  let peers: Peers;
  let svc: GroupService;

  const suite = useGroupSuite('group-forget');
  before(async () => {
    ({ peers, svc } = await suite.start());
  });

  const create = async (ownerId: string, memberIds: string[]) =>
    (
      await svc.client.createGroup({
        groupId: '',
        ownerId,
        name: 'g',
        avatarUrl: '',
        intro: '',
        memberIds,
      })
    ).group!.groupId;

  it('passes an owned group to the first admin (unmuted), and a repeat changes nothing', async () => {
    const [owner, member, admin] = makeUsers(peers, 3) as [string, string, string];
    const groupId = await create(owner, [member, admin]);
    await svc.client.setMemberRole({
      operatorId: owner,
      groupId,
      userId: admin,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });
    await svc.client.muteMember({
      operatorId: owner,
      groupId,
      userId: admin,
      durationSeconds: 600,
    });

    await svc.client.forgetUser({ userId: owner });
    await svc.client.forgetUser({ userId: owner });

    const { group } = await svc.client.getGroup({ groupId });
    expect(group).to.deep.include({ ownerId: admin, memberCount: 2 });
    const { member: heir } = await svc.client.getMember({ groupId, userId: admin });
    expect(heir!.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
    expect(heir!.mutedUntil).to.equal(undefined);
    expect(await countsOf(svc, groupId)).to.deep.equal({ memberCount: 2, rows: 2 });
    await expectGrpcError(
      svc.client.getMember({ groupId, userId: owner }),
      GrpcStatus.NOT_FOUND,
      'NOT_GROUP_MEMBER',
    );
  });

  it('refuses to add a deleted user even when the user service still knew them (no join outlives the deletion)', async () => {
    const [owner, gone] = makeUsers(peers, 2) as [string, string];
    const groupId = await create(owner, []);
    // The stand-in user service still lists `gone`: as if it answered before the deletion.
    await svc.client.forgetUser({ userId: gone });
    await expectGrpcError(
      svc.client.addMembers({ operatorId: owner, groupId, userIds: [gone] }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    await expectGrpcError(
      svc.client.createGroup({
        groupId: '',
        ownerId: owner,
        name: 'g',
        avatarUrl: '',
        intro: '',
        memberIds: [gone],
      }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    expect(await countsOf(svc, groupId)).to.deep.equal({ memberCount: 1, rows: 1 });
  });

  it('dismisses a group its deleted owner leaves empty, and skips dismissed groups', async () => {
    const [owner, other] = makeUsers(peers, 2) as [string, string];
    const alone = await create(owner, []);
    const dismissed = await create(owner, [other]);
    await svc.client.dismissGroup({ operatorId: owner, groupId: dismissed });
    await svc.client.forgetUser({ userId: owner });
    expect((await svc.client.getGroup({ groupId: alone })).group).to.deep.include({
      memberCount: 0,
      status: 2,
    });
    // A dismissed group is frozen: nothing changes there.
    expect((await svc.client.getGroup({ groupId: dismissed })).group).to.deep.include({
      ownerId: owner,
      memberCount: 2,
    });
  });
});
