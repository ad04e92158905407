import type { ListPosition, UserConversationRecord } from './conversation.types';

/** The rules of the list's order and visibility, shared by every way a page is cut. */

/** Hidden until a message above hidden_seq is recorded (-1: never hidden). */
export const isVisible = (r: UserConversationRecord) => r.activityMaxSeq > r.hiddenSeq;

/** Last activity: the last message's sent_at, or when the user's row was created. */
export const lastActivity = (r: UserConversationRecord): Date => r.lastSentAt ?? r.createdAt;

export const positionOf = (r: UserConversationRecord): ListPosition => ({
  pinned: r.pinned,
  activityMs: lastActivity(r).getTime(),
  conversationId: r.conversationId,
});

/**
 * The list's order: pinned first, newest activity first, then id ascending (ids are ASCII, so
 * this is MySQL's ascii_bin order too).
 */
export function listOrder(a: UserConversationRecord, b: UserConversationRecord): number {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  const d = lastActivity(b).getTime() - lastActivity(a).getTime();
  if (d !== 0) return d;
  return a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0;
}

/** Whether r sorts strictly after p: pinned first, newest activity first, then id ascending. */
export function comesAfter(r: UserConversationRecord, p: ListPosition): boolean {
  if (r.pinned !== p.pinned) return p.pinned;
  const t = lastActivity(r).getTime();
  if (t !== p.activityMs) return t < p.activityMs;
  return r.conversationId > p.conversationId;
}

/** unread_count: never negative, whatever order the inputs arrived in. */
export const unreadCount = (maxSeq: number, readSeq: number) => Math.max(0, maxSeq - readSeq);

/**
 * total_unread: every conversation of the user except muted ones (hidden ones included); a
 * former member's row counts up to where it froze. maxSeqOf is asked for the others only.
 */
export function totalUnread(
  rows: UserConversationRecord[],
  maxSeqOf: (conversationId: string) => number,
): number {
  let total = 0;
  for (const r of rows) {
    if (!r.muted) total += unreadCount(r.frozenSeq ?? maxSeqOf(r.conversationId), r.readSeq);
  }
  return total;
}
