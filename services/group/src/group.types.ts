/** A member's role; the order is the rank (owner > admin > member). */
export type Role = 'member' | 'admin' | 'owner';

export type GroupStatus = 'active' | 'dismissed';

/** A group as the domain sees it. */
export interface GroupRecord {
  groupId: string;
  name: string;
  avatarUrl: string;
  intro: string;
  notice: string;
  ownerId: string;
  memberCount: number;
  status: GroupStatus;
  allMuted: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** One membership. mutedUntil is stored as set; whether it still mutes is decided at read time. */
export interface MemberRecord {
  groupId: string;
  userId: string;
  role: Role;
  joinedAt: Date;
  mutedUntil: Date | null;
}

/** The group fields UpdateGroup may change; undefined leaves a field as it is. */
export interface GroupChanges {
  name?: string;
  avatarUrl?: string;
  intro?: string;
  notice?: string;
  allMuted?: boolean;
}

/** A keyset position in a list ordered by (joinedAt, id). */
export interface PagePosition {
  joinedAt: Date;
  id: string;
}

export interface Page<T> {
  items: T[];
  /** Where the next page starts; undefined on the last page. */
  next?: PagePosition;
}

/**
 * Where a leaving member's conversation row freezes: the group's max_seq as the removal
 * happens, and the sent_at of the message at it (null when the group has no message yet).
 */
export interface FreezePoint {
  seq: number;
  sentAt: Date | null;
}
