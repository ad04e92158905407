import type { GroupRecord, MemberRecord, Role } from './group.types';
import { groupDismissed, groupNotFound, insufficientRole, operatorNotMember } from './group.errors';

const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

/** The group exists and is active: what every mutating rpc asks before looking at any member. */
export function assertActive(groupId: string, group: GroupRecord | null): GroupRecord {
  if (!group) throw groupNotFound(groupId);
  if (group.status === 'dismissed') throw groupDismissed(groupId);
  return group;
}

/** The operator is a member holding at least `minimum`. */
export function requireRole(
  operatorId: string,
  operator: MemberRecord | null | undefined,
  minimum: 'admin' | 'owner',
): MemberRecord {
  if (!operator) throw operatorNotMember(operatorId);
  if (RANK[operator.role] < RANK[minimum]) {
    throw insufficientRole(
      minimum === 'owner' ? 'only the owner may do this' : 'only the owner or an admin may do this',
    );
  }
  return operator;
}

/**
 * Removing and muting: only a strictly higher role acts on a member, so the owner acts on
 * admins and members, an admin on members, and nobody on the owner or on themselves.
 */
export function requireOutranks(operator: MemberRecord, target: MemberRecord, action: string) {
  if (RANK[operator.role] <= RANK[target.role]) {
    throw insufficientRole(
      target.role === 'owner'
        ? `nobody may ${action} the owner`
        : `a ${operator.role} may not ${action} ${operator.userId === target.userId ? 'themselves' : `a ${target.role}`}`,
    );
  }
}

/** Whether a member may send now; mute expiry is judged against `now`, never stored. */
export function sendBlock(
  group: GroupRecord,
  member: MemberRecord,
  now: Date,
): 'muted' | 'all_muted' | undefined {
  if (member.role === 'owner') return undefined;
  if (member.mutedUntil && member.mutedUntil > now) return 'muted';
  if (group.allMuted && member.role === 'member') return 'all_muted';
  return undefined;
}
