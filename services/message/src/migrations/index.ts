import type { Migration } from '@im-repo/db';
import { createMessages } from './0001-create-messages';
import { createConversationSeqs } from './0002-create-conversation-seqs';
import { createMessageOutbox } from './0003-create-message-outbox';
import { widenConversationIds } from './0004-widen-conversation-ids';
import { moveOutbox } from './0005-move-outbox';
import { createDeletedUsers } from './0006-create-message-deleted-users';
import { createFloorsAndExpiry } from './0007-create-floors-and-expiry';

/** Every migration of the message service, in order. */
export const migrations: Migration[] = [
  createMessages,
  createConversationSeqs,
  createMessageOutbox,
  widenConversationIds,
  moveOutbox,
  createDeletedUsers,
  createFloorsAndExpiry,
];
