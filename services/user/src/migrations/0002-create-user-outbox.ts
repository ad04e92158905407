import { outboxTableMigration } from '@im-repo/outbox';

/** The user service's outbox (its change events are queued here). */
export const createUserOutbox = outboxTableMigration('0002-create-user-outbox', 'user_outbox');
