import { AppError, Code, NotFoundError } from '@im-repo/errors';
import type { PeerClient } from '@im-repo/server-kit';
import type { GroupAccess, GroupRole, UserDirectory } from './message.types';

// The peers' clients fail with AppErrors already (server-kit's one relay rule), so the domain
// sees no gRPC and these adapters only translate answers.

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
  client: PeerClient<'user'>,
  known = new KnownIds(100_000),
): UserDirectory {
  return {
    async assertExist(userIds) {
      const unknown = [...new Set(userIds)].filter((id) => !known.has(id));
      if (unknown.length === 0) return;
      const { users } = await client.batchGetUsers({ userIds: unknown });
      const found = new Set(users.map((u) => u.userId));
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

export function createGroupAccess(client: PeerClient<'group'>): GroupAccess {
  return {
    async checkSend(groupId, userId) {
      await client.checkSendPermission({ groupId, userId });
    },

    async memberRole(groupId, userId) {
      try {
        const { member } = await client.getMember({ groupId, userId });
        return (member?.role ?? null) as GroupRole | null;
      } catch (err) {
        const notMember =
          err instanceof AppError &&
          err.code === Code.NOT_FOUND &&
          err.reason === 'NOT_GROUP_MEMBER';
        if (notMember) return null;
        throw err;
      }
    },
  };
}
