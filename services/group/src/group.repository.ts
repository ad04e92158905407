import {
  execute,
  isUniqueViolation,
  select,
  withTransaction,
  type Sequelize,
  type Transaction,
} from '@im-repo/db';
import { databaseNow, type Enqueued, type NewOutboxRow, type Outbox } from '@im-repo/outbox';
import type {
  FreezePoint,
  GroupChanges,
  GroupRecord,
  GroupStatus,
  MemberRecord,
  Page,
  PagePosition,
  Role,
} from './group.types';
import { participantRows, removalRows } from './participant-outbox';

interface GroupRow {
  group_id: string;
  name: string;
  avatar_url: string;
  intro: string;
  notice: string;
  owner_id: string;
  member_count: number;
  status: number;
  all_muted: number;
  created_at: Date;
  updated_at: Date;
}

interface MemberRow {
  group_id: string;
  user_id: string;
  role: number;
  joined_at: Date;
  muted_until: Date | null;
}

const ROLE_CODES: Record<Role, number> = { member: 1, admin: 2, owner: 3 };
const ROLES: Record<number, Role> = { 1: 'member', 2: 'admin', 3: 'owner' };
const STATUS_CODES: Record<GroupStatus, number> = { active: 1, dismissed: 2 };

const GROUP_COLUMNS =
  'group_id, name, avatar_url, intro, notice, owner_id, member_count, status, all_muted, created_at, updated_at';
const MEMBER_COLUMNS = 'group_id, user_id, role, joined_at, muted_until';
const INSERT_CHUNK = 1000;

/**
 * Keyset pages: the position is the last row's (joined_at, id); the index is in the same order,
 * so a page reads page-size rows wherever it starts (no OFFSET). Exported for the plan tests.
 */
export const LIST_MEMBERS_SQL = `
  SELECT ${MEMBER_COLUMNS} FROM group_members FORCE INDEX (idx_group_members_group_joined)
  WHERE group_id = ? AND (joined_at > ? OR (joined_at = ? AND user_id > ?))
  ORDER BY joined_at, user_id LIMIT ?`;

// STRAIGHT_JOIN keeps the member index's order (no filesort): groups are looked up one by one.
export const LIST_USER_GROUPS_SQL = `
  SELECT STRAIGHT_JOIN ${GROUP_COLUMNS.split(', ')
    .map((c) => `g.${c}`)
    .join(', ')}, m.joined_at AS member_joined_at
  FROM group_members m FORCE INDEX (idx_group_members_user_joined)
  JOIN \`groups\` g FORCE INDEX (PRIMARY) ON g.group_id = m.group_id
  WHERE m.user_id = ? AND g.status = ${STATUS_CODES.active}
    AND (m.joined_at > ? OR (m.joined_at = ? AND m.group_id > ?))
  ORDER BY m.joined_at, m.group_id LIMIT ?`;

/** Before every real position: DATETIME(3)'s floor, and '' sorts before every id. */
const START: PagePosition = { joinedAt: new Date('1000-01-01T00:00:00.000Z'), id: '' };

function toGroup(row: GroupRow): GroupRecord {
  return {
    groupId: row.group_id,
    name: row.name,
    avatarUrl: row.avatar_url,
    intro: row.intro,
    notice: row.notice,
    ownerId: row.owner_id,
    memberCount: Number(row.member_count),
    status: row.status === STATUS_CODES.dismissed ? 'dismissed' : 'active',
    allMuted: Boolean(row.all_muted),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toMember(row: MemberRow): MemberRecord {
  const role = ROLES[row.role];
  if (!role) throw new Error(`group_members holds an unknown role ${row.role}`);
  return {
    groupId: row.group_id,
    userId: row.user_id,
    role,
    joinedAt: row.joined_at,
    mutedUntil: row.muted_until,
  };
}

function page<T>(items: T[], limit: number, position: (item: T) => PagePosition): Page<T> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, next: position(kept[kept.length - 1]!) };
}

/**
 * What a membership change may do while it holds the group's row lock. Every change of member
 * rows also moves member_count in the same statement pair, so the count cannot drift.
 */
export interface GroupTx {
  member(userId: string): Promise<MemberRecord | null>;
  members(userIds: string[]): Promise<MemberRecord[]>;
  addMembers(members: MemberRecord[], now: Date): Promise<void>;
  /** Deletes these members; returns how many were removed. */
  removeMembers(userIds: string[], now: Date): Promise<number>;
  updateGroup(changes: GroupChanges, now: Date): Promise<void>;
  setOwner(ownerId: string, now: Date): Promise<void>;
  dismiss(now: Date): Promise<void>;
  setRole(userId: string, role: Role): Promise<void>;
  /** null unmutes. */
  setMutedUntil(userId: string, until: Date | null): Promise<void>;
  /** Queues joins to tell the conversation service, delivered after commit. */
  enqueueParticipants(userIds: string[]): Promise<Enqueued>;
  /** Queues leaves (their conversation rows freeze at point), delivered after commit. */
  enqueueRemovals(userIds: string[], point: FreezePoint): Promise<Enqueued>;
  /**
   * Queues the change's events, built at the commit clock (the database's); writes nothing
   * while events are off.
   */
  enqueueEvents(build: (at: Date) => NewOutboxRow[]): Promise<Enqueued>;
  /** The group row as this transaction sees it now. */
  reload(): Promise<GroupRecord>;
  /**
   * Who takes over a group whose owner is gone: the first admin in ListMembers order
   * (joined_at, user_id), else the first member; null when nobody is left.
   */
  successor(): Promise<MemberRecord | null>;
  /** The deleted users among userIds, read with a shared lock (see deletedAmong). */
  deletedAmong(userIds: string[]): Promise<string[]>;
}

/** The groups and group_members tables. Returns plain records; knows nothing of gRPC. */
export class GroupRepository {
  constructor(
    private readonly db: Sequelize,
    /** Owns the group_outbox table. */
    private readonly outbox: Outbox,
    /** Whether change events are on (their rows go to the same outbox). */
    private readonly events = false,
  ) {}

  async findGroup(groupId: string): Promise<GroupRecord | null> {
    const [row] = await select<GroupRow>(
      this.db,
      `SELECT ${GROUP_COLUMNS} FROM \`groups\` WHERE group_id = ?`,
      [groupId],
    );
    return row ? toGroup(row) : null;
  }

  async findMember(groupId: string, userId: string): Promise<MemberRecord | null> {
    const [row] = await select<MemberRow>(
      this.db,
      `SELECT ${MEMBER_COLUMNS} FROM group_members WHERE group_id = ? AND user_id = ?`,
      [groupId, userId],
    );
    return row ? toMember(row) : null;
  }

  async findMembers(groupId: string, userIds: string[], t?: Transaction): Promise<MemberRecord[]> {
    if (userIds.length === 0) return [];
    const rows = await select<MemberRow>(
      this.db,
      `SELECT ${MEMBER_COLUMNS} FROM group_members WHERE group_id = ? AND user_id IN (?)`,
      [groupId, userIds],
      t,
    );
    return rows.map(toMember);
  }

  async listMembers(
    groupId: string,
    after: PagePosition | undefined,
    limit: number,
  ): Promise<Page<MemberRecord>> {
    const from = after ?? START;
    const rows = await select<MemberRow>(this.db, LIST_MEMBERS_SQL, [
      groupId,
      from.joinedAt,
      from.joinedAt,
      from.id,
      limit + 1,
    ]);
    return page(rows.map(toMember), limit, (m) => ({ joinedAt: m.joinedAt, id: m.userId }));
  }

  /** Active groups the user is in, in (joined_at, group_id) order. */
  async listUserGroups(
    userId: string,
    after: PagePosition | undefined,
    limit: number,
  ): Promise<Page<GroupRecord & { joinedAt: Date }>> {
    const from = after ?? START;
    const rows = await select<GroupRow & { member_joined_at: Date }>(
      this.db,
      LIST_USER_GROUPS_SQL,
      [userId, from.joinedAt, from.joinedAt, from.id, limit + 1],
    );
    return page(
      rows.map((r) => ({ ...toGroup(r), joinedAt: r.member_joined_at })),
      limit,
      (g) => ({ joinedAt: g.joinedAt, id: g.groupId }),
    );
  }

  /**
   * Inserts a group with its first members and their queued joins in one transaction.
   * 'group_id_taken' when the id exists.
   */
  async createGroup(
    group: GroupRecord,
    members: MemberRecord[],
    events: (at: Date) => NewOutboxRow[],
  ): Promise<Enqueued | 'group_id_taken' | { deletedUsers: string[] }> {
    try {
      return await withTransaction(this.db, async (t) => {
        const deletedUsers = await this.deletedAmong(
          members.map((m) => m.userId),
          t,
        );
        if (deletedUsers.length > 0) return { deletedUsers };
        await execute(
          this.db,
          `INSERT INTO \`groups\` (${GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            group.groupId,
            group.name,
            group.avatarUrl,
            group.intro,
            group.notice,
            group.ownerId,
            members.length,
            STATUS_CODES[group.status],
            group.allMuted ? 1 : 0,
            group.createdAt,
            group.updatedAt,
          ],
          t,
        );
        await this.insertMembers(members, t);
        return this.outbox.enqueue(t, [
          ...participantRows(
            group.groupId,
            members.map((m) => m.userId),
          ),
          ...(await this.eventRows(t, events)),
        ]);
      });
    } catch (err) {
      if (isUniqueViolation(err)) return 'group_id_taken';
      throw err;
    }
  }

  /** Records a deleted user (idempotent), before they are taken out of their groups. */
  async addDeletedUser(userId: string): Promise<void> {
    await execute(
      this.db,
      'INSERT IGNORE INTO group_deleted_users (user_id, deleted_at) VALUES (?, UTC_TIMESTAMP(3))',
      [userId],
    );
  }

  /**
   * The deleted users among userIds, with a shared lock in the caller's transaction: a deletion
   * recorded meanwhile waits for that transaction (and then finds the membership it wrote), or
   * is seen by it. So no join lands after a deletion's follow-up listed the user's groups.
   */
  private async deletedAmong(userIds: string[], t: Transaction): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await select<{ user_id: string }>(
      this.db,
      'SELECT user_id FROM group_deleted_users WHERE user_id IN (?) LOCK IN SHARE MODE',
      [userIds],
      t,
    );
    const gone = new Set(rows.map((r) => r.user_id));
    return userIds.filter((id) => gone.has(id));
  }

  /**
   * Runs fn in a transaction holding the group row's lock (null when there is no such group),
   * so membership changes of one group run one at a time, across replicas too. The lock is the
   * transaction's first read: its later plain reads then see every change committed before it.
   */
  async withLockedGroup<T>(
    groupId: string,
    fn: (group: GroupRecord | null, tx: GroupTx) => Promise<T>,
  ): Promise<T> {
    return withTransaction(this.db, async (t) => {
      const [row] = await select<GroupRow>(
        this.db,
        `SELECT ${GROUP_COLUMNS} FROM \`groups\` WHERE group_id = ? FOR UPDATE`,
        [groupId],
        t,
      );
      return fn(row ? toGroup(row) : null, this.transactionOps(groupId, t));
    });
  }

  private async eventRows(
    t: Transaction,
    build: (at: Date) => NewOutboxRow[],
  ): Promise<NewOutboxRow[]> {
    return this.events ? build(await databaseNow(this.db, t)) : [];
  }

  private transactionOps(groupId: string, t: Transaction): GroupTx {
    const db = this.db;
    const touch = (now: Date, sets: string, params: unknown[]) =>
      execute(
        db,
        `UPDATE \`groups\` SET ${sets}, updated_at = ? WHERE group_id = ?`,
        [...params, now, groupId],
        t,
      );
    return {
      member: async (userId) => (await this.findMembers(groupId, [userId], t))[0] ?? null,
      members: (userIds) => this.findMembers(groupId, userIds, t),
      addMembers: async (members, now) => {
        if (members.length === 0) return;
        await this.insertMembers(members, t);
        await touch(now, 'member_count = member_count + ?', [members.length]);
      },
      removeMembers: async (userIds, now) => {
        if (userIds.length === 0) return 0;
        const { affectedRows } = await execute(
          db,
          'DELETE FROM group_members WHERE group_id = ? AND user_id IN (?)',
          [groupId, userIds],
          t,
        );
        if (affectedRows > 0) {
          await touch(now, 'member_count = member_count - ?', [affectedRows]);
        }
        return affectedRows;
      },
      updateGroup: async (changes, now) => {
        const sets: string[] = [];
        const params: unknown[] = [];
        const set = (column: string, value: unknown) => {
          if (value === undefined) return;
          sets.push(`${column} = ?`);
          params.push(value);
        };
        set('name', changes.name);
        set('avatar_url', changes.avatarUrl);
        set('intro', changes.intro);
        set('notice', changes.notice);
        set('all_muted', changes.allMuted === undefined ? undefined : changes.allMuted ? 1 : 0);
        if (sets.length > 0) await touch(now, sets.join(', '), params);
      },
      setOwner: (ownerId, now) => touch(now, 'owner_id = ?', [ownerId]).then(() => undefined),
      dismiss: (now) => touch(now, 'status = ?', [STATUS_CODES.dismissed]).then(() => undefined),
      setRole: async (userId, role) => {
        await execute(
          db,
          'UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?',
          [ROLE_CODES[role], groupId, userId],
          t,
        );
      },
      setMutedUntil: async (userId, until) => {
        await execute(
          db,
          'UPDATE group_members SET muted_until = ? WHERE group_id = ? AND user_id = ?',
          [until, groupId, userId],
          t,
        );
      },
      enqueueParticipants: (userIds) => this.outbox.enqueue(t, participantRows(groupId, userIds)),
      enqueueRemovals: (userIds, point) =>
        this.outbox.enqueue(t, removalRows(groupId, userIds, point)),
      enqueueEvents: async (build) => this.outbox.enqueue(t, await this.eventRows(t, build)),
      reload: async () => {
        const [row] = await select<GroupRow>(
          db,
          `SELECT ${GROUP_COLUMNS} FROM \`groups\` WHERE group_id = ?`,
          [groupId],
          t,
        );
        if (!row) throw new Error(`group ${groupId} vanished inside its own lock`);
        return toGroup(row);
      },
      deletedAmong: (userIds) => this.deletedAmong(userIds, t),
      successor: async () => {
        const [row] = await select<MemberRow>(
          db,
          `SELECT ${MEMBER_COLUMNS} FROM group_members WHERE group_id = ?
           ORDER BY role = ${ROLE_CODES.admin} DESC, joined_at, user_id LIMIT 1`,
          [groupId],
          t,
        );
        return row ? toMember(row) : null;
      },
    };
  }

  private async insertMembers(members: MemberRecord[], t: Transaction): Promise<void> {
    for (let i = 0; i < members.length; i += INSERT_CHUNK) {
      const chunk = members.slice(i, i + INSERT_CHUNK);
      await execute(
        this.db,
        `INSERT INTO group_members (${MEMBER_COLUMNS}) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((m) => [m.groupId, m.userId, ROLE_CODES[m.role], m.joinedAt, m.mutedUntil]),
        t,
      );
    }
  }
}
