import {
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
} from '@im-repo/errors';

/** At most this many ids are named in a USER_NOT_FOUND message or its metadata. */
const NAMED_IDS = 50;

export const groupNotFound = (groupId: string) =>
  new NotFoundError('GROUP_NOT_FOUND', `group ${groupId} not found`, { group_id: groupId });

export const groupDismissed = (groupId: string) =>
  new FailedPreconditionError('GROUP_DISMISSED', `group ${groupId} is dismissed`, {
    group_id: groupId,
  });

/** The operator (the caller) is not in the group. */
export const operatorNotMember = (userId: string) =>
  new PermissionDeniedError('NOT_GROUP_MEMBER', `${userId} is not a member of the group`, {
    user_id: userId,
  });

/** The user the call is about is not in the group. */
export const targetNotMember = (userId: string) =>
  new NotFoundError('NOT_GROUP_MEMBER', `${userId} is not a member of the group`, {
    user_id: userId,
  });

export const insufficientRole = (message: string) =>
  new PermissionDeniedError('INSUFFICIENT_ROLE', message);

export const ownerCannotLeave = () =>
  new FailedPreconditionError(
    'OWNER_CANNOT_LEAVE',
    'the owner must transfer ownership before leaving',
  );

export const groupFull = (maxMembers: number) =>
  new ResourceExhaustedError('GROUP_FULL', `a group holds at most ${maxMembers} members`, {
    max_members: String(maxMembers),
  });

export const memberMuted = (metadata: Record<string, string>) =>
  new PermissionDeniedError('MEMBER_MUTED', 'the member may not send to this group now', metadata);

export function usersNotFound(userIds: string[]) {
  const named = userIds.slice(0, NAMED_IDS);
  const more = userIds.length - named.length;
  return new NotFoundError(
    'USER_NOT_FOUND',
    `users not found: ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
    // Metadata rides in a response header, so a huge list is cut (unknown_count says how many).
    { user_ids: named.join(','), unknown_count: String(userIds.length) },
  );
}
