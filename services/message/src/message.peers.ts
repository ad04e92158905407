import { AppError, Code, NotFoundError } from '@im-repo/errors';
import type { GroupServicePromiseClient } from '@im-repo/proto/group';
import type { UserServicePromiseClient } from '@im-repo/proto/user';
import { peerError, translatePeerError } from '@im-repo/server-kit';
import type { GroupAccess, GroupRole, UserDirectory } from './message.types';

/** A peer's failure as our own error (same code and reason), so the domain sees no gRPC. */
function relay(err: unknown): unknown {
  return err instanceof AppError ? err : (translatePeerError(err) ?? err);
}

/**
 * Ids known to exist, least recently used evicted. Users are never deleted, so a positive answer
 * never goes stale; negatives are never kept (a user registered a moment later must work).
 */
export class KnownIds {
  private readonly ids = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    if (!this.ids.has(id)) return false;
    this.ids.delete(id);
    this.ids.set(id, true);
    return true;
  }

  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.keys().next().value!);
  }
}

export function createUserDirectory(
  client: UserServicePromiseClient,
  known = new KnownIds(100_000),
): UserDirectory {
  return {
    async assertExist(userIds) {
      const unknown = [...new Set(userIds)].filter((id) => !known.has(id));
      if (unknown.length === 0) return;
      let found: Set<string>;
      try {
        const { users } = await client.batchGetUsers({ userIds: unknown });
        found = new Set(users.map((u) => u.userId));
      } catch (err) {
        throw relay(err);
      }
      for (const id of found) known.add(id);
      const missing = unknown.find((id) => !found.has(id));
      if (missing !== undefined) {
        throw new NotFoundError('USER_NOT_FOUND', `user ${missing} not found`, {
          user_id: missing,
        });
      }
    },
  };
}

export function createGroupAccess(client: GroupServicePromiseClient): GroupAccess {
  return {
    async checkSend(groupId, userId) {
      try {
        await client.checkSendPermission({ groupId, userId });
      } catch (err) {
        throw relay(err);
      }
    },

    async memberRole(groupId, userId) {
      try {
        const { member } = await client.getMember({ groupId, userId });
        return (member?.role ?? null) as GroupRole | null;
      } catch (err) {
        const peer = peerError(err);
        if (peer?.code === Code.NOT_FOUND && peer.reason === 'NOT_GROUP_MEMBER') return null;
        throw relay(err);
      }
    },
  };
}
