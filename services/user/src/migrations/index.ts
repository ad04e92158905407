import type { Migration } from '@im-repo/db';
import { createUsers } from './0001-create-users';

/** Every migration of the user service, in order. */
export const migrations: Migration[] = [createUsers];
