import { expect } from 'chai';
import { GroupRole, GroupStatus } from '@im-repo/proto/group';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { castGroup, type Cast } from './fixtures';
import { useGroupSuite, countsOf, makeUsers, type GroupService, type Peers } from './harness';

type Operator = 'owner' | 'admin' | 'member' | 'outsider';
type Target = 'owner' | 'otherAdmin' | 'otherMember' | 'self' | 'nonMember';

/** What a call should answer: OK, or a code with its reason. */
type Outcome = 'ok' | 'INSUFFICIENT_ROLE' | 'OPERATOR_NOT_MEMBER' | 'TARGET_NOT_MEMBER';

const OPERATORS: Operator[] = ['owner', 'admin', 'member', 'outsider'];
const TARGETS: Target[] = ['owner', 'otherAdmin', 'otherMember', 'self', 'nonMember'];

/**
 * The expected answer of every (action, operator) and (action, operator, target), written out
 * from API.md rather than derived from the service's code. Order of checks: a target who is
 * not a member is NOT_FOUND before the operator's permission is looked at (existence before
 * permission), except RemoveMembers, which skips non-members.
 */
const GROUP_ACTIONS: Record<string, Record<Operator, Outcome>> = {
  updateGroup: {
    owner: 'ok',
    admin: 'ok',
    member: 'INSUFFICIENT_ROLE',
    outsider: 'OPERATOR_NOT_MEMBER',
  },
  dismissGroup: {
    owner: 'ok',
    admin: 'INSUFFICIENT_ROLE',
    member: 'INSUFFICIENT_ROLE',
    outsider: 'OPERATOR_NOT_MEMBER',
  },
  addMembers: {
    owner: 'ok',
    admin: 'ok',
    member: 'INSUFFICIENT_ROLE',
    outsider: 'OPERATOR_NOT_MEMBER',
  },
  setGroupMuted: {
    owner: 'ok',
    admin: 'ok',
    member: 'INSUFFICIENT_ROLE',
    outsider: 'OPERATOR_NOT_MEMBER',
  },
};

const IR = 'INSUFFICIENT_ROLE' as const;
const ONM = 'OPERATOR_NOT_MEMBER' as const;
const TNM = 'TARGET_NOT_MEMBER' as const;

// For the outsider, 'self' is a non-member target too.
const muteTable: Record<Operator, Record<Target, Outcome>> = {
  owner: { owner: IR, otherAdmin: 'ok', otherMember: 'ok', self: IR, nonMember: TNM },
  admin: { owner: IR, otherAdmin: IR, otherMember: 'ok', self: IR, nonMember: TNM },
  member: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
  outsider: { owner: ONM, otherAdmin: ONM, otherMember: ONM, self: TNM, nonMember: TNM },
};

const TARGET_ACTIONS: Record<string, Record<Operator, Record<Target, Outcome>>> = {
  removeMembers: {
    owner: { owner: IR, otherAdmin: 'ok', otherMember: 'ok', self: IR, nonMember: 'ok' },
    admin: { owner: IR, otherAdmin: IR, otherMember: 'ok', self: IR, nonMember: 'ok' },
    member: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: IR },
    outsider: { owner: ONM, otherAdmin: ONM, otherMember: ONM, self: ONM, nonMember: ONM },
  },
  mute: muteTable,
  unmute: muteTable,
  setRoleAdmin: {
    owner: { owner: IR, otherAdmin: 'ok', otherMember: 'ok', self: IR, nonMember: TNM },
    admin: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    member: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    outsider: { owner: ONM, otherAdmin: ONM, otherMember: ONM, self: TNM, nonMember: TNM },
  },
  setRoleMember: {
    owner: { owner: IR, otherAdmin: 'ok', otherMember: 'ok', self: IR, nonMember: TNM },
    admin: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    member: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    outsider: { owner: ONM, otherAdmin: ONM, otherMember: ONM, self: TNM, nonMember: TNM },
  },
  transferOwnership: {
    // The owner "transferring" to themselves changes nothing.
    owner: { owner: 'ok', otherAdmin: 'ok', otherMember: 'ok', self: 'ok', nonMember: TNM },
    admin: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    member: { owner: IR, otherAdmin: IR, otherMember: IR, self: IR, nonMember: TNM },
    outsider: { owner: ONM, otherAdmin: ONM, otherMember: ONM, self: TNM, nonMember: TNM },
  },
};

describe('GroupService: permission matrix (operator role x target role x action)', () => {
  let peers: Peers;
  let svc: GroupService;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ peers, svc } = await suite.start());
  });

  const operatorId = (c: Cast, op: Operator) =>
    ({ owner: c.owner, admin: c.admin, member: c.member, outsider: c.outsider })[op];

  /** Targets differ from the operator: "another" admin or member when the operator is one. */
  const targetId = (c: Cast, op: Operator, target: Target) => {
    switch (target) {
      case 'owner':
        return c.owner;
      case 'otherAdmin':
        return op === 'admin' ? c.admin2 : c.admin;
      case 'otherMember':
        return op === 'member' ? c.member2 : c.member;
      case 'self':
        return operatorId(c, op);
      case 'nonMember':
        return makeUsers(peers, 1, 'nm')[0]!;
    }
  };

  /** Everything a denied call must leave untouched. */
  const snapshot = async (groupId: string) => ({
    group: (await svc.client.getGroup({ groupId })).group,
    members: (await svc.client.listMembers({ groupId, pageSize: 0, pageToken: '' })).members,
  });

  const expectOutcome = async (call: Promise<unknown>, outcome: Outcome) => {
    if (outcome === 'ok') return call;
    if (outcome === 'TARGET_NOT_MEMBER') {
      return expectGrpcError(call, GrpcStatus.NOT_FOUND, 'NOT_GROUP_MEMBER');
    }
    return expectGrpcError(
      call,
      GrpcStatus.PERMISSION_DENIED,
      outcome === 'OPERATOR_NOT_MEMBER' ? 'NOT_GROUP_MEMBER' : 'INSUFFICIENT_ROLE',
    );
  };

  for (const [action, byOperator] of Object.entries(GROUP_ACTIONS)) {
    for (const op of OPERATORS) {
      const outcome = byOperator[op];
      it(`${action} by ${op}: ${outcome}`, async () => {
        const c = await castGroup(svc, peers, 'pm');
        const groupId = c.groupId;
        const operator = operatorId(c, op);
        const [fresh] = makeUsers(peers, 1, 'fresh');
        const before = await snapshot(groupId);
        const calls: Record<string, () => Promise<unknown>> = {
          updateGroup: () => svc.client.updateGroup({ operatorId: operator, groupId, name: 'new' }),
          dismissGroup: () => svc.client.dismissGroup({ operatorId: operator, groupId }),
          addMembers: () =>
            svc.client.addMembers({ operatorId: operator, groupId, userIds: [fresh!] }),
          setGroupMuted: () =>
            svc.client.setGroupMuted({ operatorId: operator, groupId, muted: true }),
        };
        const batchCallsBefore = peers.batchCalls.length;
        await expectOutcome(calls[action]!(), outcome);
        const after = await snapshot(groupId);
        if (outcome !== 'ok') {
          expect(after).to.deep.equal(before);
          // A caller who may not add never makes the service ask about users.
          expect(peers.batchCalls.length).to.equal(batchCallsBefore);
          return;
        }
        const effects: Record<string, () => void> = {
          updateGroup: () => expect(after.group!.name).to.equal('new'),
          dismissGroup: () =>
            expect(after.group!.status).to.equal(GroupStatus.GROUP_STATUS_DISMISSED),
          addMembers: () => {
            expect(after.members.map((m) => m.userId)).to.include(fresh);
            expect(after.group!.memberCount).to.equal(6);
          },
          setGroupMuted: () => expect(after.group!.allMuted).to.equal(true),
        };
        effects[action]!();
      });
    }
  }

  for (const [action, byOperator] of Object.entries(TARGET_ACTIONS)) {
    for (const op of OPERATORS) {
      for (const target of TARGETS) {
        const outcome = byOperator[op][target];
        it(`${action} by ${op} on ${target}: ${outcome}`, async () => {
          const c = await castGroup(svc, peers, 'pm');
          const groupId = c.groupId;
          const operator = operatorId(c, op);
          const userId = targetId(c, op, target);
          if (action === 'unmute') {
            // Something to unmute: every member but the owner (who cannot be muted).
            for (const id of [c.admin, c.admin2, c.member, c.member2]) {
              await svc.client.muteMember({
                operatorId: c.owner,
                groupId,
                userId: id,
                durationSeconds: 3600,
              });
            }
          }
          const before = await snapshot(groupId);
          const calls: Record<string, () => Promise<unknown>> = {
            removeMembers: () =>
              svc.client.removeMembers({ operatorId: operator, groupId, userIds: [userId] }),
            mute: () =>
              svc.client.muteMember({ operatorId: operator, groupId, userId, durationSeconds: 60 }),
            unmute: () =>
              svc.client.muteMember({ operatorId: operator, groupId, userId, durationSeconds: 0 }),
            setRoleAdmin: () =>
              svc.client.setMemberRole({
                operatorId: operator,
                groupId,
                userId,
                role: GroupRole.GROUP_ROLE_ADMIN,
              }),
            setRoleMember: () =>
              svc.client.setMemberRole({
                operatorId: operator,
                groupId,
                userId,
                role: GroupRole.GROUP_ROLE_MEMBER,
              }),
            transferOwnership: () =>
              svc.client.transferOwnership({ operatorId: operator, groupId, newOwnerId: userId }),
          };
          await expectOutcome(calls[action]!(), outcome);
          const after = await snapshot(groupId);
          const member = (id: string) => after.members.find((m) => m.userId === id);
          if (outcome !== 'ok') {
            expect(after).to.deep.equal(before);
            return;
          }
          switch (action) {
            case 'removeMembers':
              expect(member(userId)).to.equal(undefined);
              expect(after.group!.memberCount).to.equal(target === 'nonMember' ? 5 : 4);
              expect(await countsOf(svc, groupId)).to.deep.include({
                memberCount: after.group!.memberCount,
                rows: after.group!.memberCount,
              });
              break;
            case 'mute':
              expect(member(userId)!.mutedUntil!.getTime()).to.be.greaterThan(Date.now());
              break;
            case 'unmute':
              expect(member(userId)!.mutedUntil).to.equal(undefined);
              expect(before.members.find((m) => m.userId === userId)!.mutedUntil).not.to.equal(
                undefined,
              );
              break;
            case 'setRoleAdmin':
              expect(member(userId)!.role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
              break;
            case 'setRoleMember':
              expect(member(userId)!.role).to.equal(GroupRole.GROUP_ROLE_MEMBER);
              break;
            case 'transferOwnership':
              expect(after.group!.ownerId).to.equal(userId);
              expect(member(userId)!.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
              if (userId !== operator) {
                expect(member(operator)!.role).to.equal(GroupRole.GROUP_ROLE_ADMIN);
              } else {
                expect(after).to.deep.equal(before);
              }
              break;
          }
        });
      }
    }
  }
});
