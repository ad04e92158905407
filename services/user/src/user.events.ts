import { eventRow } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { toProto } from './user.mapping';
import type { UserRecord } from './user.types';

// Pure: domain results -> outbox rows of the change events, keyed by user id.

/** user.registered: the Register answer. */
export function registeredEvent(user: UserRecord, occurredAt: Date): NewOutboxRow {
  return eventRow(user.userId, occurredAt, {
    $case: 'userRegistered',
    value: { user: toProto(user) },
  });
}

/** user.updated: the UpdateUser answer (never for ChangePassword). */
export function updatedEvent(user: UserRecord, occurredAt: Date): NewOutboxRow {
  return eventRow(user.userId, occurredAt, {
    $case: 'userUpdated',
    value: { user: toProto(user) },
  });
}

/** user.deleted: in the deletion's transaction. */
export function deletedEvent(userId: string, occurredAt: Date): NewOutboxRow {
  return eventRow(userId, occurredAt, { $case: 'userDeleted', value: { userId } });
}
