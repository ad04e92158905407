import type { Migration } from '@im-repo/db';

export const createDeletedUsers: Migration = {
  name: '0006-create-message-deleted-users',
  async up({ sql }) {
    // Users deleted by the user service, told through its outbox (message.ForgetUser): every
    // replica checks a send's users here, so a deletion reaches them all at once. erase_after is
    // the erasure's cursor (the last client_msg_id erased, in the sender's index order).
    await sql(`
      CREATE TABLE message_deleted_users (
        user_id     VARCHAR(64)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        deleted_at  DATETIME(3)    NOT NULL,
        erase_after VARBINARY(256) NULL,
        erased_at   DATETIME(3)    NULL,
        PRIMARY KEY (user_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE message_deleted_users');
  },
};
