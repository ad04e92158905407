import type { Migration } from '@im-repo/db';
import { createGroups } from './0001-create-groups';

/** Every migration of the group service, in order. */
export const migrations: Migration[] = [createGroups];
