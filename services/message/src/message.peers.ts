import { AppError, Code, NotFoundError } from '@im-repo/errors';
import type { PeerClient } from '@im-repo/server-kit';
import type { GroupAccess, GroupRole, UserDirectory } from './message.types';
import type { DeletedUserCheck } from './user-deletion';

// The peers' clients fail with AppErrors already (server-kit's one relay rule), so the domain
// sees no gRPC and these adapters only translate answers.

/**
 * Ids known to exist, least recently used evicted. A positive answer goes stale only when the
 * user is deleted, and every send checks deletions against the shared table besides (this
 * replica also forgets the id when told); negatives are never kept (a user registered a moment
 * later must work).
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

  forget(id: string): void {
    this.ids.delete(id);
  }

  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.keys().next().value!);
  }
}

const userNotFound = (userId: string) =>
  new NotFoundError('USER_NOT_FOUND', `user ${userId} not found`, { user_id: userId });

export function createUserDirectory(
  client: PeerClient<'user'>,
  deleted: Pick<DeletedUserCheck, 'findDeleted'>,
  known = new KnownIds(100_000),
): UserDirectory {
  return {
    async assertNotDeleted(userIds) {
      const found = await deleted.findDeleted(userIds);
      const hit = userIds.find((id) => found.has(id));
      if (hit === undefined) return;
      known.forget(hit);
      throw userNotFound(hit);
    },

    async assertExist(userIds) {
      const unknown = [...new Set(userIds)].filter((id) => !known.has(id));
      if (unknown.length === 0) return;
      const { users } = await client.batchGetUsers({ userIds: unknown });
      const found = new Set(users.map((u) => u.userId));
      for (const id of found) known.add(id);
      const missing = unknown.find((id) => !found.has(id));
      if (missing !== undefined) throw userNotFound(missing);
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
