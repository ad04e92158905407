import type { Migration } from '@im-repo/db';
import { createGroups } from './0001-create-groups';
import { moveOutbox } from './0002-move-outbox';
import { createGroupDeletedUsers } from './0003-create-group-deleted-users';

/** Every migration of the group service, in order. */
export const migrations: Migration[] = [createGroups, moveOutbox, createGroupDeletedUsers];
