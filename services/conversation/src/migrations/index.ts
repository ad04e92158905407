import type { Migration } from '@im-repo/db';
import { createUserConversations } from './0001-create-user-conversations';
import { createConversationActivity } from './0002-create-conversation-activity';
import { addFormerMemberFreeze } from './0003-add-former-member-freeze';
import { createConversationOutbox } from './0004-create-conversation-outbox';
import { createDeletedUsers } from './0005-create-conversation-deleted-users';
import { addClearedSeq } from './0006-add-cleared-seq';

/** Every migration of the conversation service, in order. */
export const migrations: Migration[] = [
  createUserConversations,
  createConversationActivity,
  addFormerMemberFreeze,
  createConversationOutbox,
  createDeletedUsers,
  addClearedSeq,
];
