/**
 * Conversation ids are derived, never chosen (API.md): single chat `si_<a>_<b>` with a <= b in
 * byte order (a == b is a note-to-self), group chat `sg_<group_id>`. Ids never contain `_`, so
 * these parse unambiguously.
 */
export const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

export type ParsedConversationId =
  | { type: 'single'; conversationId: string; userIds: [string, string] }
  | { type: 'group'; conversationId: string; groupId: string };

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function singleConversationId(userA: string, userB: string): string {
  return byteOrder(userA, userB) <= 0 ? `si_${userA}_${userB}` : `si_${userB}_${userA}`;
}

export function groupConversationId(groupId: string): string {
  return `sg_${groupId}`;
}

/** The parts of a canonical conversation id, or undefined for anything else. */
export function parseConversationId(id: string): ParsedConversationId | undefined {
  if (id.startsWith('sg_')) {
    const groupId = id.slice(3);
    return ID_PATTERN.test(groupId) ? { type: 'group', conversationId: id, groupId } : undefined;
  }
  if (id.startsWith('si_')) {
    const parts = id.slice(3).split('_');
    if (parts.length !== 2) return undefined;
    const [a, b] = parts as [string, string];
    if (!ID_PATTERN.test(a) || !ID_PATTERN.test(b) || byteOrder(a, b) > 0) return undefined;
    return { type: 'single', conversationId: id, userIds: [a, b] };
  }
  return undefined;
}
