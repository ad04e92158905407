import type { Migration } from '@im-repo/db';
import { createUsers } from './0001-create-users';
import { createUserOutbox } from './0002-create-user-outbox';
import { addUserDeletion } from './0003-add-user-deletion';

/** Every migration of the user service, in order. */
export const migrations: Migration[] = [createUsers, createUserOutbox, addUserDeletion];
