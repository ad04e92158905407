import { outboxTableMigration } from '@im-repo/outbox';

/** The conversation service's outbox (its change events are queued here). */
export const createConversationOutbox = outboxTableMigration(
  '0004-create-conversation-outbox',
  'conversation_outbox',
);
