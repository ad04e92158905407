import type { Migration } from '@im-repo/db';

export const createDeletedUsers: Migration = {
  name: '0005-create-conversation-deleted-users',
  async up({ sql }) {
    // Users deleted by the user service (conversation.ForgetUser): records and participants
    // that arrive for them later are dropped, so their list stays empty.
    await sql(`
      CREATE TABLE conversation_deleted_users (
        user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        deleted_at DATETIME(3) NOT NULL,
        PRIMARY KEY (user_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE conversation_deleted_users');
  },
};
