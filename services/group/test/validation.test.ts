import { expect } from 'chai';
import { validate } from '@im-repo/server-kit';
import { GroupRole } from '@im-repo/proto/group';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { castGroup, type Cast } from './fixtures';
import { useGroupSuite, type GroupService, type Peers } from './harness';

const BAD_IDS = ['', 'has_underscore', 'x'.repeat(65), 'spa ce', 'ümlaut'];
const MAX_MUTE = 366 * 86400;

describe('GroupService: request validation', () => {
  let peers: Peers;
  let svc: GroupService;
  let c: Cast;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ peers, svc } = await suite.start());
    c = await castGroup(svc, peers);
  });

  /** Every case: [rpc, field, call]. Built lazily so the cast exists. */
  const cases = (): [string, string, () => Promise<unknown>][] => {
    const g = c.groupId;
    const create = (o: Partial<Parameters<typeof svc.client.createGroup>[0]>) => () =>
      svc.client.createGroup({
        groupId: '',
        ownerId: c.owner,
        name: 'ok',
        avatarUrl: '',
        intro: '',
        memberIds: [],
        ...o,
      });
    const list: [string, string, () => Promise<unknown>][] = [
      ['CreateGroup', 'name', create({ name: '' })],
      ['CreateGroup', 'name', create({ name: 'n'.repeat(65) })],
      ['CreateGroup', 'name', create({ name: '😀'.repeat(65) })],
      ['CreateGroup', 'avatar_url', create({ avatarUrl: 'a'.repeat(1025) })],
      ['CreateGroup', 'intro', create({ intro: 'i'.repeat(513) })],
      ['CreateGroup', 'member_ids[1]', create({ memberIds: [c.member, 'bad_id'] })],
      ['CreateGroup', 'group_id', create({ groupId: 'x'.repeat(65) })],
      ['CreateGroup', 'group_id', create({ groupId: 'bad_id' })],
      [
        'UpdateGroup',
        'name',
        () => svc.client.updateGroup({ operatorId: c.owner, groupId: g, name: '' }),
      ],
      [
        'UpdateGroup',
        'name',
        () => svc.client.updateGroup({ operatorId: c.owner, groupId: g, name: 'n'.repeat(65) }),
      ],
      [
        'UpdateGroup',
        'avatar_url',
        () =>
          svc.client.updateGroup({ operatorId: c.owner, groupId: g, avatarUrl: 'a'.repeat(1025) }),
      ],
      [
        'UpdateGroup',
        'intro',
        () => svc.client.updateGroup({ operatorId: c.owner, groupId: g, intro: 'i'.repeat(513) }),
      ],
      [
        'UpdateGroup',
        'notice',
        () => svc.client.updateGroup({ operatorId: c.owner, groupId: g, notice: 'n'.repeat(2049) }),
      ],
      [
        'AddMembers',
        'user_ids',
        () => svc.client.addMembers({ operatorId: c.owner, groupId: g, userIds: [] }),
      ],
      [
        'AddMembers',
        'user_ids[1]',
        () => svc.client.addMembers({ operatorId: c.owner, groupId: g, userIds: [c.outsider, ''] }),
      ],
      [
        'RemoveMembers',
        'user_ids',
        () => svc.client.removeMembers({ operatorId: c.owner, groupId: g, userIds: [] }),
      ],
      [
        'RemoveMembers',
        'user_ids[0]',
        () => svc.client.removeMembers({ operatorId: c.owner, groupId: g, userIds: ['a_b'] }),
      ],
      ...[GroupRole.GROUP_ROLE_UNSPECIFIED, GroupRole.GROUP_ROLE_OWNER, 99 as GroupRole].map(
        (role): [string, string, () => Promise<unknown>] => [
          'SetMemberRole',
          'role',
          () =>
            svc.client.setMemberRole({ operatorId: c.owner, groupId: g, userId: c.member, role }),
        ],
      ),
      ...[-1, MAX_MUTE + 1, 2 ** 31 - 1].map((d): [string, string, () => Promise<unknown>] => [
        'MuteMember',
        'duration_seconds',
        () =>
          svc.client.muteMember({
            operatorId: c.owner,
            groupId: g,
            userId: c.member,
            durationSeconds: d,
          }),
      ]),
      [
        'ListMembers',
        'page_size',
        () => svc.client.listMembers({ groupId: g, pageSize: -1, pageToken: '' }),
      ],
      [
        'ListUserGroups',
        'page_size',
        () => svc.client.listUserGroups({ userId: c.owner, pageSize: -1, pageToken: '' }),
      ],
    ];
    // Every id field of every rpc, each bad shape.
    for (const bad of BAD_IDS) {
      list.push(
        ['CreateGroup', 'owner_id', create({ ownerId: bad })],
        ['GetGroup', 'group_id', () => svc.client.getGroup({ groupId: bad })],
        [
          'UpdateGroup',
          'operator_id',
          () => svc.client.updateGroup({ operatorId: bad, groupId: g }),
        ],
        [
          'UpdateGroup',
          'group_id',
          () => svc.client.updateGroup({ operatorId: c.owner, groupId: bad }),
        ],
        [
          'DismissGroup',
          'operator_id',
          () => svc.client.dismissGroup({ operatorId: bad, groupId: g }),
        ],
        [
          'DismissGroup',
          'group_id',
          () => svc.client.dismissGroup({ operatorId: c.owner, groupId: bad }),
        ],
        [
          'AddMembers',
          'operator_id',
          () => svc.client.addMembers({ operatorId: bad, groupId: g, userIds: [c.outsider] }),
        ],
        [
          'AddMembers',
          'group_id',
          () => svc.client.addMembers({ operatorId: c.owner, groupId: bad, userIds: [c.outsider] }),
        ],
        [
          'AddMembers',
          'user_ids[0]',
          () => svc.client.addMembers({ operatorId: c.owner, groupId: g, userIds: [bad] }),
        ],
        [
          'RemoveMembers',
          'operator_id',
          () => svc.client.removeMembers({ operatorId: bad, groupId: g, userIds: [c.member] }),
        ],
        [
          'RemoveMembers',
          'group_id',
          () =>
            svc.client.removeMembers({ operatorId: c.owner, groupId: bad, userIds: [c.member] }),
        ],
        ['LeaveGroup', 'user_id', () => svc.client.leaveGroup({ userId: bad, groupId: g })],
        ['LeaveGroup', 'group_id', () => svc.client.leaveGroup({ userId: c.member, groupId: bad })],
        [
          'SetMemberRole',
          'operator_id',
          () =>
            svc.client.setMemberRole({
              operatorId: bad,
              groupId: g,
              userId: c.member,
              role: GroupRole.GROUP_ROLE_ADMIN,
            }),
        ],
        [
          'SetMemberRole',
          'group_id',
          () =>
            svc.client.setMemberRole({
              operatorId: c.owner,
              groupId: bad,
              userId: c.member,
              role: GroupRole.GROUP_ROLE_ADMIN,
            }),
        ],
        [
          'SetMemberRole',
          'user_id',
          () =>
            svc.client.setMemberRole({
              operatorId: c.owner,
              groupId: g,
              userId: bad,
              role: GroupRole.GROUP_ROLE_ADMIN,
            }),
        ],
        [
          'TransferOwnership',
          'operator_id',
          () => svc.client.transferOwnership({ operatorId: bad, groupId: g, newOwnerId: c.member }),
        ],
        [
          'TransferOwnership',
          'group_id',
          () =>
            svc.client.transferOwnership({
              operatorId: c.owner,
              groupId: bad,
              newOwnerId: c.member,
            }),
        ],
        [
          'TransferOwnership',
          'new_owner_id',
          () => svc.client.transferOwnership({ operatorId: c.owner, groupId: g, newOwnerId: bad }),
        ],
        [
          'MuteMember',
          'operator_id',
          () =>
            svc.client.muteMember({
              operatorId: bad,
              groupId: g,
              userId: c.member,
              durationSeconds: 1,
            }),
        ],
        [
          'MuteMember',
          'group_id',
          () =>
            svc.client.muteMember({
              operatorId: c.owner,
              groupId: bad,
              userId: c.member,
              durationSeconds: 1,
            }),
        ],
        [
          'MuteMember',
          'user_id',
          () =>
            svc.client.muteMember({
              operatorId: c.owner,
              groupId: g,
              userId: bad,
              durationSeconds: 1,
            }),
        ],
        [
          'SetGroupMuted',
          'operator_id',
          () => svc.client.setGroupMuted({ operatorId: bad, groupId: g, muted: true }),
        ],
        [
          'SetGroupMuted',
          'group_id',
          () => svc.client.setGroupMuted({ operatorId: c.owner, groupId: bad, muted: true }),
        ],
        ['GetMember', 'group_id', () => svc.client.getMember({ groupId: bad, userId: c.member })],
        ['GetMember', 'user_id', () => svc.client.getMember({ groupId: g, userId: bad })],
        [
          'ListMembers',
          'group_id',
          () => svc.client.listMembers({ groupId: bad, pageSize: 0, pageToken: '' }),
        ],
        [
          'ListUserGroups',
          'user_id',
          () => svc.client.listUserGroups({ userId: bad, pageSize: 0, pageToken: '' }),
        ],
        [
          'CheckSendPermission',
          'group_id',
          () => svc.client.checkSendPermission({ groupId: bad, userId: c.member }),
        ],
        [
          'CheckSendPermission',
          'user_id',
          () => svc.client.checkSendPermission({ groupId: g, userId: bad }),
        ],
      );
    }
    return list;
  };

  it('rejects each bad input with INVALID_ARGUMENT naming the field, changing nothing', async () => {
    const { group: before } = await svc.client.getGroup({ groupId: c.groupId });
    const { members: membersBefore } = await svc.client.listMembers({
      groupId: c.groupId,
      pageSize: 0,
      pageToken: '',
    });
    const all = cases();
    expect(all.length).to.be.greaterThan(150);
    for (const [rpc, field, call] of all) {
      let err;
      try {
        err = await expectGrpcError(call(), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
      } catch (e) {
        throw new Error(`${rpc} ${field}: ${(e as Error).message}`, { cause: e });
      }
      expect(err.metadata.field, `${rpc} ${field}`).to.equal(field);
      expect(err.domain).to.equal('im.group.v1');
    }
    expect((await svc.client.getGroup({ groupId: c.groupId })).group).to.deep.equal(before);
    const { members } = await svc.client.listMembers({
      groupId: c.groupId,
      pageSize: 0,
      pageToken: '',
    });
    expect(members).to.deep.equal(membersBefore);
  });

  it('checks validation before existence: a bad field on an unknown group is INVALID_ARGUMENT', async () => {
    const err = await expectGrpcError(
      svc.client.updateGroup({ operatorId: c.owner, groupId: 'no-such-group', name: '' }),
      GrpcStatus.INVALID_ARGUMENT,
    );
    expect(err.metadata.field).to.equal('name');
  });

  it('rejects malformed page tokens, and tokens of another list, with INVALID_ARGUMENT page_token', async () => {
    const other = await castGroup(svc, peers, 'other');
    const { nextPageToken } = await svc.client.listMembers({
      groupId: other.groupId,
      pageSize: 1,
      pageToken: '',
    });
    expect(nextPageToken).not.to.equal('');
    const { nextPageToken: userToken } = await svc.client.listUserGroups({
      userId: c.owner,
      pageSize: 0,
      pageToken: '',
    });
    expect(userToken).to.equal('');
    const forged = [
      'not a token!',
      '!!!',
      Buffer.from('not json').toString('base64url'),
      validate.encodePageToken({ s: `m:${c.groupId}`, t: -1, k: 'x' }),
      validate.encodePageToken({ s: `m:${c.groupId}`, t: 1e20, k: 'x' }),
      validate.encodePageToken({ s: `m:${c.groupId}`, t: 5, k: 'bad_id' }),
      validate.encodePageToken({ s: `m:${c.groupId}`, t: '5', k: 'x' }),
      validate.encodePageToken([1, 2]),
      validate.encodePageToken(null),
      nextPageToken, // another group's list
    ];
    for (const pageToken of forged) {
      const err = await expectGrpcError(
        svc.client.listMembers({ groupId: c.groupId, pageSize: 0, pageToken }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(err.metadata.field).to.equal('page_token');
    }
    const err = await expectGrpcError(
      svc.client.listUserGroups({ userId: c.owner, pageSize: 0, pageToken: nextPageToken }),
      GrpcStatus.INVALID_ARGUMENT,
    );
    expect(err.metadata.field).to.equal('page_token');
  });

  it('accepts the boundaries: 64 code point names, 512 intro, 2048 notice, 1024 avatar, 366-day mute', async () => {
    const { group } = await svc.client.createGroup({
      groupId: 'x'.repeat(64),
      ownerId: c.owner,
      name: '😀'.repeat(64),
      avatarUrl: 'a'.repeat(1024),
      intro: '字'.repeat(512),
      memberIds: [c.member],
    });
    expect(group!.name).to.equal('😀'.repeat(64));
    expect(group!.intro).to.equal('字'.repeat(512));
    const { group: updated } = await svc.client.updateGroup({
      operatorId: c.owner,
      groupId: group!.groupId,
      notice: '🎉'.repeat(2048),
    });
    expect(updated!.notice).to.equal('🎉'.repeat(2048));
    const { member } = await svc.client.muteMember({
      operatorId: c.owner,
      groupId: group!.groupId,
      userId: c.member,
      durationSeconds: MAX_MUTE,
    });
    expect(member!.mutedUntil!.getTime()).to.be.greaterThan(Date.now() + (MAX_MUTE - 60) * 1000);
  });

  it('clamps page_size above the max to 1000 and reads 0 as the default 100', async () => {
    const [owner, ...rest] = Array.from({ length: 1100 }, (_, i) => `clamp-${i}`);
    [owner!, ...rest].forEach((u) => peers.users.add(u));
    const { group } = await svc.client.createGroup({
      groupId: '',
      ownerId: owner!,
      name: 'big',
      avatarUrl: '',
      intro: '',
      memberIds: rest.slice(0, 500),
    });
    for (let i = 500; i < rest.length; i += 500) {
      await svc.client.addMembers({
        operatorId: owner!,
        groupId: group!.groupId,
        userIds: rest.slice(i, i + 500),
      });
    }
    const big = await svc.client.listMembers({
      groupId: group!.groupId,
      pageSize: 5000,
      pageToken: '',
    });
    expect(big.members).to.have.length(1000);
    expect(big.nextPageToken).not.to.equal('');
    const dflt = await svc.client.listMembers({
      groupId: group!.groupId,
      pageSize: 0,
      pageToken: '',
    });
    expect(dflt.members).to.have.length(100);
  });
});
