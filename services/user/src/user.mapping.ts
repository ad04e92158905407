import type { User } from '@im-repo/proto/user';
import type { UserRecord } from './user.types';

// Records (the domain's plain data) to their proto messages: the one mapping the handlers and
// the change events share, so an event's payload is exactly what the rpc answered.

/** A user as others see it (never the password hash). */
export function toProto(u: UserRecord): User {
  return {
    userId: u.userId,
    username: u.username,
    nickname: u.nickname,
    avatarUrl: u.avatarUrl,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}
