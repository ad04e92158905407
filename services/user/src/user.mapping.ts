import { GetUserResponse, type User } from '@im-repo/proto/user';
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

/** GetUser's answer for this user, encoded (what the user service caches for GetUser). */
export function encodeGetUserResponse(u: UserRecord): Buffer {
  const bytes = GetUserResponse.encode({ user: toProto(u) }).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
