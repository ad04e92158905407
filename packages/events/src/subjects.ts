import type { Event } from '@im-repo/proto/events';

/** Which oneof payload an event carries ('messageCreated', ...). */
export type EventCase = NonNullable<Event['payload']>['$case'];

/** Per payload: its oneof field number and its subject path `<domain>.<kind>` (API.md). */
export const EVENT_KINDS: Record<EventCase, { field: number; path: string }> = {
  messageCreated: { field: 10, path: 'message.created' },
  messageRecalled: { field: 11, path: 'message.recalled' },
  conversationRead: { field: 12, path: 'conversation.read' },
  conversationUpdated: { field: 13, path: 'conversation.updated' },
  groupCreated: { field: 14, path: 'group.created' },
  groupUpdated: { field: 15, path: 'group.updated' },
  groupDismissed: { field: 16, path: 'group.dismissed' },
  membersAdded: { field: 17, path: 'group.members_added' },
  membersRemoved: { field: 18, path: 'group.members_removed' },
  memberUpdated: { field: 19, path: 'group.member_updated' },
  userRegistered: { field: 20, path: 'user.registered' },
  userUpdated: { field: 21, path: 'user.updated' },
  conversationCleared: { field: 22, path: 'conversation.cleared' },
  userDeleted: { field: 23, path: 'user.deleted' },
};

/** Subject path by oneof field number. */
export const PATH_BY_FIELD: ReadonlyMap<number, string> = new Map(
  Object.values(EVENT_KINDS).map((k) => [k.field, k.path]),
);

/** `<prefix>.<domain>.<kind>.<key>`: key is a user, group or conversation id (no dots). */
export function eventSubject(prefix: string, path: string, key: string): string {
  return `${prefix}.${path}.${key}`;
}

/** The subjects of a stream holding every event under the prefix. */
export function streamSubject(prefix: string): string {
  return `${prefix}.>`;
}
