import type { Message } from '@im-repo/proto/message';

export type ConversationKind = 'single' | 'group';

/** A user's row joined with its conversation's recorded activity. */
export interface UserConversationRecord {
  userId: string;
  conversationId: string;
  kind: ConversationKind;
  peerId: string;
  readSeq: number;
  pinned: boolean;
  muted: boolean;
  /** -1: never hidden; else hidden while activityMaxSeq <= hiddenSeq. */
  hiddenSeq: number;
  createdAt: Date;
  /** Highest seq RecordMessages has seen (0 when none yet). */
  activityMaxSeq: number;
  /** sent_at of that message, null when none yet. */
  lastSentAt: Date | null;
  /**
   * A former group member's row: the group's max_seq when they left (activityMaxSeq and
   * lastSentAt then describe that point, not the group now); null while the row follows it.
   */
  frozenSeq: number | null;
  /** The user's ClearHistory floor: no last message at or below it (0: never cleared). */
  clearedSeq: number;
}

/**
 * The message service's last message, relayed as it came: the domain never looks inside (it
 * is the message service's to render, recalled messages included).
 */
export type LastMessage = Message;

export interface ConversationHead {
  maxSeq: number;
  /** A preview: its content is at most 1,024 bytes. */
  lastMessage?: LastMessage;
  lastMessageTruncated?: boolean;
}

/** One conversation as a user sees it. */
export interface ConversationView {
  conversationId: string;
  kind: ConversationKind;
  peerId: string;
  maxSeq: number;
  readSeq: number;
  unreadCount: number;
  pinned: boolean;
  muted: boolean;
  lastMessage?: LastMessage;
  lastMessageTruncated: boolean;
  /** Last activity: the last message's sent_at, or when the user's row was created. */
  updatedAt: Date;
}

/** One durable message, as the message service reports it (validated). */
export interface MessageRecordInput {
  conversationId: string;
  kind: ConversationKind;
  senderId: string;
  /** The other user (single chat) or the group id. */
  recipientId: string;
  seq: number;
  sentAt: Date;
}

export interface AddParticipantsInput {
  conversationId: string;
  kind: ConversationKind;
  userIds: string[];
  /** The peer each user's row gets: the other participant, or the group id. */
  peerOf: (userId: string) => string;
}

/** Where a list page ended, in list order (pinned first, newest activity, id ascending). */
export interface ListPosition {
  pinned: boolean;
  activityMs: number;
  conversationId: string;
}

/** What a next_page_token holds: a snapshot cursor (if one was stored) and a keyset fallback. */
export interface ListPageToken {
  /** Snapshot id in Redis, '' when none could be stored. */
  cursorId: string;
  /** Index into the snapshot of the next entry to consider. */
  offset: number;
  /** The last conversation returned: where a keyset walk resumes if the snapshot is gone. */
  after: ListPosition;
}

export interface ListPage {
  conversations: ConversationView[];
  next?: ListPageToken;
  totalUnread: number;
}

/** A user's ClearHistory floor, as the message service reports it (validated). */
export interface ClearedRecordInput {
  userId: string;
  conversationId: string;
  kind: ConversationKind;
  /** The other user (single chat) or the group id. */
  peerId: string;
  clearedSeq: number;
}

/** Members who left a group, or were removed: their rows freeze at frozenSeq. */
export interface RemoveParticipantsInput {
  conversationId: string;
  userIds: string[];
  frozenSeq: number;
  /** sent_at of the message at frozenSeq; null when frozenSeq is 0. */
  frozenAt: Date | null;
}
