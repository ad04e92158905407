import type { Migration } from '@im-repo/db';

export const addUserDeletion: Migration = {
  name: '0003-add-user-deletion',
  async up({ sql }) {
    // A deleted user keeps its row as a tombstone: the primary key keeps the user_id from ever
    // being registered again, while a NULL username (a unique key admits many NULLs) frees the
    // name at once.
    await sql(`
      ALTER TABLE users
        MODIFY username VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NULL,
        ADD COLUMN deleted_at DATETIME(3) NULL`);
  },
  async down({ sql }) {
    await sql('DELETE FROM users WHERE deleted_at IS NOT NULL');
    await sql(`
      ALTER TABLE users
        DROP COLUMN deleted_at,
        MODIFY username VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL`);
  },
};
