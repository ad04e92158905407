import type { Migration } from '@im-repo/db';

export const createGroupDeletedUsers: Migration = {
  name: '0003-create-group-deleted-users',
  async up({ sql }) {
    // Users the user service deleted (group.ForgetUser). CreateGroup and AddMembers read it with
    // a shared lock in their transaction, so nobody joins a group after their deletion's
    // follow-up has taken them out of every group.
    await sql(`
      CREATE TABLE group_deleted_users (
        user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        deleted_at DATETIME(3) NOT NULL,
        PRIMARY KEY (user_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE group_deleted_users');
  },
};
