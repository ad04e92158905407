import type { CacheAside } from '@im-repo/cache';
import { AlreadyExistsError, AppError } from '@im-repo/errors';
import type { Enqueued } from '@im-repo/outbox';
import { ulid } from 'ulid';
import { groupKey, memberKey } from './group.cache-keys';
import {
  groupCreated,
  groupDismissed,
  groupUpdated,
  membersAdded,
  membersRemoved,
  memberUpdated,
} from './group.events';
import {
  groupFull,
  groupNotFound,
  insufficientRole,
  memberMuted,
  operatorNotMember,
  ownerCannotLeave,
  targetNotMember,
  usersNotFound,
} from './group.errors';
import { assertActive, requireOutranks, requireRole, sendBlock } from './group.permissions';
import type { GroupRepository, GroupTx } from './group.repository';
import type {
  FreezePoint,
  GroupChanges,
  GroupRecord,
  MemberRecord,
  Page,
  PagePosition,
  Role,
} from './group.types';

export interface CreateGroupInput {
  groupId?: string;
  ownerId: string;
  name: string;
  avatarUrl: string;
  intro: string;
  memberIds: string[];
}

/** Which users exist (the user service). */
export interface UserLookup {
  findUnknown(userIds: string[]): Promise<string[]>;
}

/** Where a group's conversation is now (the message service). */
export interface GroupHeads {
  freezePoint(groupId: string): Promise<FreezePoint>;
}

/** Delivers what a committed transaction queued in the outbox (never throws). */
export interface OutboxDelivery {
  deliver(...enqueued: Enqueued[]): Promise<void>;
}

export interface GroupCaches {
  groups: CacheAside<GroupRecord>;
  members: CacheAside<MemberRecord>;
}

export interface GroupDomainOptions {
  maxMembers: number;
  now?: () => Date;
}

/** What a change under the group lock must invalidate once it has committed. */
interface Changed<T> {
  result: T;
  group?: boolean;
  members?: string[];
  /** The change's outbox rows (events, joins), delivered once it has committed. */
  enqueued?: Enqueued[];
}

const unique = (ids: string[]) => [...new Set(ids)];

/** Groups read per page when a deleted user leaves them all. */
const FORGET_PAGE = 100;

/**
 * The rules of groups: roles and who may do what, the member cap, the exact member count, and
 * the cached reads of the send path. Every change runs under the group row's lock and
 * invalidates the caches it affects after it commits.
 */
export class GroupDomain {
  private readonly now: () => Date;

  constructor(
    private readonly repo: GroupRepository,
    private readonly caches: GroupCaches,
    private readonly users: UserLookup,
    private readonly outbox: OutboxDelivery,
    private readonly heads: GroupHeads,
    private readonly options: GroupDomainOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async createGroup(input: CreateGroupInput): Promise<GroupRecord> {
    const ids = unique([input.ownerId, ...input.memberIds]);
    // Too many ids can never fit: rejected before asking the user service about them.
    if (ids.length > this.options.maxMembers) throw groupFull(this.options.maxMembers);
    const unknown = await this.users.findUnknown(ids);
    if (unknown.length > 0) throw usersNotFound(unknown);

    const now = this.now();
    const group: GroupRecord = {
      groupId: input.groupId ?? ulid(),
      name: input.name,
      avatarUrl: input.avatarUrl,
      intro: input.intro,
      notice: '',
      ownerId: input.ownerId,
      memberCount: ids.length,
      status: 'active',
      allMuted: false,
      createdAt: now,
      updatedAt: now,
    };
    const members = ids.map((userId): MemberRecord => ({
      groupId: group.groupId,
      userId,
      role: userId === input.ownerId ? 'owner' : 'member',
      joinedAt: now,
      mutedUntil: null,
    }));
    const joins = await this.repo.createGroup(group, members, groupCreated(group, ids));
    if (joins === 'group_id_taken') {
      throw new AlreadyExistsError('GROUP_ID_TAKEN', 'the group id is taken', {
        group_id: group.groupId,
      });
    }
    // Deleted since the user service answered.
    if ('deletedUsers' in joins) throw usersNotFound(joins.deletedUsers);
    // Lookups before the create may have cached "not found" for the group or its members.
    await this.invalidate(group.groupId, { result: null, group: true, members: ids });
    await this.outbox.deliver(joins);
    return group;
  }

  async getGroup(groupId: string): Promise<GroupRecord> {
    const group = await this.cachedGroup(groupId);
    if (!group) throw groupNotFound(groupId);
    return group;
  }

  async updateGroup(
    operatorId: string,
    groupId: string,
    changes: GroupChanges,
  ): Promise<GroupRecord> {
    return this.change(groupId, async (group, tx) => {
      requireRole(operatorId, await tx.member(operatorId), 'admin');
      const fields = Object.values(changes).filter((v) => v !== undefined);
      if (fields.length === 0) return { result: group };
      await tx.updateGroup(changes, this.now());
      const updated = await tx.reload();
      const enqueued = [await tx.enqueueEvents(groupUpdated(updated, operatorId))];
      return { result: updated, group: true, enqueued };
    });
  }

  async dismissGroup(operatorId: string, groupId: string): Promise<void> {
    await this.change(groupId, async (_group, tx) => {
      requireRole(operatorId, await tx.member(operatorId), 'owner');
      await tx.dismiss(this.now());
      const enqueued = [await tx.enqueueEvents(groupDismissed(groupId, operatorId))];
      // Member entries stay valid: the send check reads the group's status first.
      return { result: undefined, group: true, enqueued };
    });
  }

  /** Adds the users not yet in the group; returns only those. */
  async addMembers(
    operatorId: string,
    groupId: string,
    userIds: string[],
  ): Promise<MemberRecord[]> {
    const requested = unique(userIds);
    // A first pass on plain reads, so a caller who may not add, or a request that cannot fit,
    // costs no call to the user service. Everything is checked again under the lock.
    const seen = assertActive(groupId, await this.repo.findGroup(groupId));
    requireRole(operatorId, await this.repo.findMember(groupId, operatorId), 'admin');
    // Members already in the group number at most the cap, so more ids than that never fit.
    if (requested.length > this.options.maxMembers) throw groupFull(this.options.maxMembers);
    const present = await this.repo.findMembers(groupId, unique([operatorId, ...requested]));
    const { fresh } = this.admissible(seen, operatorId, requested, present);
    const unknown = await this.users.findUnknown(fresh);
    if (unknown.length > 0) throw usersNotFound(unknown);

    const { members, joins } = await this.change(groupId, async (group, tx) => {
      const now = this.now();
      const current = await tx.members(unique([operatorId, ...requested]));
      const admitted = this.admissible(group, operatorId, requested, current);
      // Deleted since the user service answered: refused, so no join outlives the deletion.
      const deleted = await tx.deletedAmong(admitted.fresh);
      if (deleted.length > 0) throw usersNotFound(deleted);
      // Users who left since the first pass were members then, so they exist.
      const members = admitted.fresh.map((userId): MemberRecord => ({
        groupId,
        userId,
        role: 'member',
        joinedAt: now,
        mutedUntil: null,
      }));
      await tx.addMembers(members, now);
      // Everyone requested, not only the new: a join the conversation service missed gets
      // repaired by repeating the (idempotent) call.
      const joins = await tx.enqueueParticipants(requested);
      const events = await tx.enqueueEvents(membersAdded(groupId, members, operatorId));
      return {
        result: { members, joins },
        group: members.length > 0,
        members: admitted.fresh,
        enqueued: [events],
      };
    });
    await this.outbox.deliver(joins);
    return members;
  }

  /**
   * Removes, then tells the conversation service (outbox) to freeze the removed members' rows
   * at the group's max_seq read as the call began: see leavePoint.
   */
  async removeMembers(operatorId: string, groupId: string, userIds: string[]): Promise<void> {
    const requested = unique(userIds);
    // A first pass on plain reads, so a call that fails its checks or removes nobody asks no
    // peer. Everything is checked again under the lock.
    assertActive(groupId, await this.repo.findGroup(groupId));
    const first = requireRole(operatorId, await this.repo.findMember(groupId, operatorId), 'admin');
    const present = await this.repo.findMembers(groupId, requested);
    for (const target of present) requireOutranks(first, target, 'remove');
    if (present.length === 0) return;
    const point = await this.leavePoint(groupId);

    await this.change(groupId, async (_group, tx) => {
      const operator = requireRole(operatorId, await tx.member(operatorId), 'admin');
      // Non-members are skipped (idempotent); one target the operator may not remove fails all.
      const targets = await tx.members(requested);
      for (const target of targets) requireOutranks(operator, target, 'remove');
      const removed = new Set(targets.map((t) => t.userId));
      // Request order without duplicates: the order the event lists them in.
      const ids = unique(userIds).filter((id) => removed.has(id));
      await tx.removeMembers(ids, this.now());
      const leaves = ids.length > 0 ? [await tx.enqueueRemovals(ids, point)] : [];
      const enqueued = [
        ...leaves,
        await tx.enqueueEvents(membersRemoved(groupId, ids, operatorId, false)),
      ];
      return { result: undefined, group: ids.length > 0, members: ids, enqueued };
    });
  }

  async leaveGroup(userId: string, groupId: string): Promise<void> {
    assertActive(groupId, await this.repo.findGroup(groupId));
    const seen = await this.repo.findMember(groupId, userId);
    if (!seen) throw targetNotMember(userId);
    if (seen.role === 'owner') throw ownerCannotLeave();
    const point = await this.leavePoint(groupId);

    await this.change(groupId, async (_group, tx) => {
      const member = await tx.member(userId);
      if (!member) throw targetNotMember(userId);
      if (member.role === 'owner') throw ownerCannotLeave();
      await tx.removeMembers([userId], this.now());
      const enqueued = [
        await tx.enqueueRemovals([userId], point),
        await tx.enqueueEvents(membersRemoved(groupId, [userId], userId, true)),
      ];
      return { result: undefined, group: true, members: [userId], enqueued };
    });
  }

  /**
   * A deleted user (the user service's outbox) leaves every active group as if by LeaveGroup,
   * one group per transaction. Idempotent: a repeat finds nothing left to leave.
   */
  async forgetUser(userId: string): Promise<void> {
    // First, so a CreateGroup or AddMembers still in flight either committed before the groups
    // are listed below or is refused (see GroupRepository.deletedAmong).
    await this.repo.addDeletedUser(userId);
    let after: PagePosition | undefined;
    for (;;) {
      const page = await this.repo.listUserGroups(userId, after, FORGET_PAGE);
      for (const group of page.items) await this.leaveAsDeleted(userId, group.groupId);
      if (!page.next) return;
      after = page.next;
    }
  }

  /**
   * LeaveGroup's change and events (members_removed, left = true, by the user), except that
   * an owner's group passes to its successor (group.updated) or, with nobody left, is
   * dismissed (group.dismissed), in that order, in the same transaction.
   */
  private async leaveAsDeleted(userId: string, groupId: string): Promise<void> {
    const point = await this.leavePoint(groupId);
    try {
      await this.change(groupId, async (_group, tx) => {
        const member = await tx.member(userId);
        if (!member) return { result: undefined };
        const now = this.now();
        await tx.removeMembers([userId], now);
        const enqueued = [
          await tx.enqueueRemovals([userId], point),
          await tx.enqueueEvents(membersRemoved(groupId, [userId], userId, true)),
        ];
        const members = [userId];
        const left = await tx.reload();
        if (left.memberCount === 0) {
          await tx.dismiss(now);
          enqueued.push(await tx.enqueueEvents(groupDismissed(groupId, userId)));
        } else if (member.role === 'owner') {
          const heir = (await tx.successor())!;
          await tx.setRole(heir.userId, 'owner');
          // The owner is never muted (as in TransferOwnership).
          await tx.setMutedUntil(heir.userId, null);
          await tx.setOwner(heir.userId, now);
          const updated = await tx.reload();
          enqueued.push(await tx.enqueueEvents(groupUpdated(updated, userId)));
          members.push(heir.userId);
        }
        return { result: undefined, group: true, members, enqueued };
      });
    } catch (err) {
      // Dismissed or gone since it was listed: nothing left to leave.
      const gone =
        err instanceof AppError &&
        (err.reason === 'GROUP_DISMISSED' || err.reason === 'GROUP_NOT_FOUND');
      if (!gone) throw err;
    }
  }

  /**
   * The freeze point of a leave: the group's max_seq, read before the removal commits. Every
   * send that returned before the call is at or below it, and none that starts after the call
   * returned: only a send racing the call may land on either side (API.md). It is read first,
   * not after the commit, so it can never be read late: the commit's outbox row must carry it,
   * and a read after the commit that failed would leave that row with nothing but a later
   * read, which would show the former member messages sent after they left. If the message
   * service cannot answer, the call fails (UNAVAILABLE) before anything changed.
   */
  private leavePoint(groupId: string): Promise<FreezePoint> {
    return this.heads.freezePoint(groupId);
  }

  async setMemberRole(
    operatorId: string,
    groupId: string,
    userId: string,
    role: Exclude<Role, 'owner'>,
  ): Promise<MemberRecord> {
    return this.change(groupId, async (_group, tx) => {
      const target = await tx.member(userId);
      if (!target) throw targetNotMember(userId);
      requireRole(operatorId, await tx.member(operatorId), 'owner');
      if (target.role === 'owner') throw insufficientRole('nobody may demote the owner');
      const member = this.effective({ ...target, role });
      if (target.role === role) return { result: member, members: [userId] };
      await tx.setRole(userId, role);
      const enqueued = [await tx.enqueueEvents(memberUpdated(member, operatorId))];
      return { result: member, members: [userId], enqueued };
    });
  }

  async transferOwnership(
    operatorId: string,
    groupId: string,
    newOwnerId: string,
  ): Promise<GroupRecord> {
    return this.change(groupId, async (group, tx) => {
      const target = await tx.member(newOwnerId);
      if (!target) throw targetNotMember(newOwnerId);
      const owner = requireRole(operatorId, await tx.member(operatorId), 'owner');
      if (target.userId === owner.userId) return { result: group };
      await tx.setRole(owner.userId, 'admin');
      await tx.setRole(target.userId, 'owner');
      // The owner is never muted; a stored mute would come back if ownership moved again.
      await tx.setMutedUntil(target.userId, null);
      await tx.setOwner(target.userId, this.now());
      const updated = await tx.reload();
      const enqueued = [await tx.enqueueEvents(groupUpdated(updated, operatorId))];
      return {
        result: updated,
        group: true,
        members: [owner.userId, target.userId],
        enqueued,
      };
    });
  }

  /** durationSeconds 0 unmutes. */
  async muteMember(
    operatorId: string,
    groupId: string,
    userId: string,
    durationSeconds: number,
  ): Promise<MemberRecord> {
    return this.change(groupId, async (_group, tx) => {
      const target = await tx.member(userId);
      if (!target) throw targetNotMember(userId);
      const operator = requireRole(operatorId, await tx.member(operatorId), 'admin');
      requireOutranks(operator, target, durationSeconds === 0 ? 'unmute' : 'mute');
      const until =
        durationSeconds === 0 ? null : new Date(this.now().getTime() + durationSeconds * 1000);
      await tx.setMutedUntil(userId, until);
      const member = this.effective({ ...target, mutedUntil: until });
      // Unmuting someone not muted (or whose mute ran out) changes nothing anyone can see.
      const unchanged = until === null && this.effective(target).mutedUntil === null;
      const enqueued = unchanged ? [] : [await tx.enqueueEvents(memberUpdated(member, operatorId))];
      return { result: member, members: [userId], enqueued };
    });
  }

  async setGroupMuted(operatorId: string, groupId: string, muted: boolean): Promise<GroupRecord> {
    return this.change(groupId, async (group, tx) => {
      requireRole(operatorId, await tx.member(operatorId), 'admin');
      if (group.allMuted === muted) return { result: group };
      await tx.updateGroup({ allMuted: muted }, this.now());
      const updated = await tx.reload();
      const enqueued = [await tx.enqueueEvents(groupUpdated(updated, operatorId))];
      return { result: updated, group: true, enqueued };
    });
  }

  /** Served from the caches (the send path's hot read); works on dismissed groups. */
  async getMember(groupId: string, userId: string): Promise<MemberRecord> {
    const [group, member] = await Promise.all([
      this.cachedGroup(groupId),
      this.cachedMember(groupId, userId),
    ]);
    if (!group) throw groupNotFound(groupId);
    if (!member) throw targetNotMember(userId);
    return this.effective(member);
  }

  /** The send path's check: the member's role when they may send now, else the send error. */
  async checkSendPermission(groupId: string, userId: string): Promise<Role> {
    const [group, member] = await Promise.all([
      this.cachedGroup(groupId),
      this.cachedMember(groupId, userId),
    ]);
    return this.sendRole(groupId, group, member, userId);
  }

  /**
   * checkSendPermission for several users of one group, the group read once: per user, in
   * order, the role or the error checkSendPermission would have thrown.
   */
  async checkSendPermissions(groupId: string, userIds: string[]): Promise<(Role | AppError)[]> {
    const [group, members] = await Promise.all([
      this.cachedGroup(groupId),
      Promise.all(userIds.map((userId) => this.cachedMember(groupId, userId))),
    ]);
    return userIds.map((userId, i) => {
      try {
        return this.sendRole(groupId, group, members[i]!, userId);
      } catch (err) {
        if (err instanceof AppError) return err;
        throw err;
      }
    });
  }

  private sendRole(
    groupId: string,
    group: GroupRecord | null,
    member: MemberRecord | null,
    userId: string,
  ): Role {
    const active = assertActive(groupId, group);
    // Sending is the member's own act, so this is PERMISSION_DENIED, not a NOT_FOUND target.
    if (!member) throw operatorNotMember(userId);
    const now = this.now();
    const block = sendBlock(active, member, now);
    if (block === 'muted') throw memberMuted({ muted_until: member.mutedUntil!.toISOString() });
    if (block === 'all_muted') throw memberMuted({ all_muted: 'true' });
    return member.role;
  }

  async listMembers(
    groupId: string,
    after: PagePosition | undefined,
    limit: number,
  ): Promise<Page<MemberRecord>> {
    if (!(await this.cachedGroup(groupId))) throw groupNotFound(groupId);
    const page = await this.repo.listMembers(groupId, after, limit);
    return { ...page, items: page.items.map((m) => this.effective(m)) };
  }

  async listUserGroups(
    userId: string,
    after: PagePosition | undefined,
    limit: number,
  ): Promise<Page<GroupRecord & { joinedAt: Date }>> {
    // joinedAt is the user's, the page's position (the handler may end the page early).
    return this.repo.listUserGroups(userId, after, limit);
  }

  /**
   * Who of `requested` would join, after the checks AddMembers makes in order: the operator's
   * role, then the cap (members already in the group do not count twice).
   */
  private admissible(
    group: GroupRecord,
    operatorId: string,
    requested: string[],
    present: MemberRecord[],
  ): { fresh: string[] } {
    const byId = new Map(present.map((m) => [m.userId, m]));
    requireRole(operatorId, byId.get(operatorId), 'admin');
    const fresh = requested.filter((id) => !byId.has(id));
    if (group.memberCount + fresh.length > this.options.maxMembers) {
      throw groupFull(this.options.maxMembers);
    }
    return { fresh };
  }

  /**
   * Runs a change under the group's lock after the checks every mutating rpc starts with (the
   * group exists, then is active: before any member is looked at), and invalidates what it
   * reports changed once the transaction has committed.
   */
  private async change<T>(
    groupId: string,
    fn: (group: GroupRecord, tx: GroupTx) => Promise<Changed<T>>,
  ): Promise<T> {
    const changed = await this.repo.withLockedGroup(groupId, (group, tx) =>
      fn(assertActive(groupId, group), tx),
    );
    await this.invalidate(groupId, changed);
    if (changed.enqueued) await this.outbox.deliver(...changed.enqueued);
    return changed.result;
  }

  private async invalidate(groupId: string, changed: Changed<unknown>): Promise<void> {
    await Promise.all([
      changed.group ? this.caches.groups.invalidate(groupKey(groupId)) : undefined,
      changed.members?.length
        ? this.caches.members.invalidate(...changed.members.map((id) => memberKey(groupId, id)))
        : undefined,
    ]);
  }

  private cachedGroup(groupId: string): Promise<GroupRecord | null> {
    return this.caches.groups.get(groupKey(groupId), () => this.repo.findGroup(groupId));
  }

  private cachedMember(groupId: string, userId: string): Promise<MemberRecord | null> {
    return this.caches.members.get(memberKey(groupId, userId), () =>
      this.repo.findMember(groupId, userId),
    );
  }

  /** A mute that has run out reads as no mute. */
  private effective(member: MemberRecord): MemberRecord {
    const muted = member.mutedUntil !== null && member.mutedUntil > this.now();
    return muted ? member : { ...member, mutedUntil: null };
  }
}
