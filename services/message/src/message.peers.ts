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

/** Users per CheckSendPermissions call (the group service's cap). */
const MAX_SEND_CHECKS = 256;

interface PendingCheck {
  userId: string;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Group sends' permission checks, coalesced: the checks of one group that arrive in one turn of
 * the event loop go as one CheckSendPermissions call. Every check is issued after its send
 * arrived and answered by its own call, never from an earlier answer, so a member removed (and
 * the group service's member cache invalidated) before a send is refused, as with one call per
 * send. A failed call fails each of its checks with its error.
 */
export class SendChecks {
  private pending = new Map<string, PendingCheck[]>();
  private flushing = false;

  constructor(private readonly client: PeerClient<'group'>) {}

  check(groupId: string, userId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let list = this.pending.get(groupId);
      if (!list) this.pending.set(groupId, (list = []));
      list.push({ userId, resolve, reject });
      if (list.length >= MAX_SEND_CHECKS) {
        this.pending.delete(groupId);
        void this.issue(groupId, list);
      } else if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushing = false;
    const all = this.pending;
    this.pending = new Map();
    for (const [groupId, list] of all) void this.issue(groupId, list);
  }

  private async issue(groupId: string, list: PendingCheck[]): Promise<void> {
    try {
      const { results } = await this.client.checkSendPermissions({
        groupId,
        userIds: list.map((c) => c.userId),
      });
      list.forEach((c, i) => {
        const result = results[i];
        if (result?.userId !== c.userId) {
          c.reject(
            new AppError(Code.INTERNAL, 'INTERNAL', 'the group service answered out of order'),
          );
        } else if (result.refusal) {
          // As the relay of CheckSendPermission's own error would make it (server-kit).
          const { code, reason, message, metadata } = result.refusal;
          c.reject(new AppError(code as Code, reason, message, metadata));
        } else c.resolve();
      });
    } catch (err) {
      // A group service older than CheckSendPermissions (a rolling deploy): one call per check.
      const older = err instanceof AppError && err.code === Code.UNIMPLEMENTED;
      for (const c of list) {
        if (!older) c.reject(err);
        else
          this.client
            .checkSendPermission({ groupId, userId: c.userId })
            .then(() => c.resolve(), c.reject);
      }
    }
  }
}

export function createGroupAccess(client: PeerClient<'group'>): GroupAccess {
  const sendChecks = new SendChecks(client);
  return {
    checkSend(groupId, userId) {
      return sendChecks.check(groupId, userId);
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
