import type { Migration } from '@im-repo/db';
import { createUsers } from './0001-create-users';
import { createUserOutbox } from './0002-create-user-outbox';

/** Every migration of the user service, in order. */
export const migrations: Migration[] = [createUsers, createUserOutbox];
