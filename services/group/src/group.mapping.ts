import { AppError } from '@im-repo/errors';
import {
  type Group,
  type GroupMember,
  GroupRole,
  GroupStatus,
  type SendPermission,
} from '@im-repo/proto/group';
import type { GroupRecord, MemberRecord, Role } from './group.types';

// Records (the domain's plain data) to their proto messages: the one mapping the handlers and
// the change events share, so an event's payload is exactly what the rpc answered.

export const ROLE_TO_PROTO: Record<Role, GroupRole> = {
  member: GroupRole.GROUP_ROLE_MEMBER,
  admin: GroupRole.GROUP_ROLE_ADMIN,
  owner: GroupRole.GROUP_ROLE_OWNER,
};

export function groupToProto(g: GroupRecord): Group {
  return {
    groupId: g.groupId,
    name: g.name,
    avatarUrl: g.avatarUrl,
    intro: g.intro,
    notice: g.notice,
    ownerId: g.ownerId,
    memberCount: g.memberCount,
    status:
      g.status === 'dismissed'
        ? GroupStatus.GROUP_STATUS_DISMISSED
        : GroupStatus.GROUP_STATUS_ACTIVE,
    allMuted: g.allMuted,
    createdAt: g.createdAt,
    updatedAt: g.updatedAt,
  };
}

export function memberToProto(m: MemberRecord): GroupMember {
  return {
    groupId: m.groupId,
    userId: m.userId,
    role: ROLE_TO_PROTO[m.role],
    joinedAt: m.joinedAt,
    mutedUntil: m.mutedUntil ?? undefined,
  };
}

/** A CheckSendPermissions result: the role, or the error CheckSendPermission would have thrown. */
export function sendPermissionToProto(userId: string, verdict: Role | AppError): SendPermission {
  if (!(verdict instanceof AppError)) return { userId, role: ROLE_TO_PROTO[verdict] };
  const { code, reason, message, metadata } = verdict;
  return {
    userId,
    role: GroupRole.GROUP_ROLE_UNSPECIFIED,
    refusal: { code, reason, message, metadata },
  };
}
