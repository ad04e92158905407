import type { Migration } from '@im-repo/db';

export const createConversationActivity: Migration = {
  name: '0002-create-conversation-activity',
  async up({ sql }) {
    // One row per conversation, not per member, so a group send writes one row here whatever
    // the group's size. Both columns only move forward (RecordMessages is replayed out of order).
    await sql(`
      CREATE TABLE conversation_activity (
        conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        max_seq         BIGINT       NOT NULL,
        last_sent_at    DATETIME(3)  NOT NULL,
        updated_at      DATETIME(3)  NOT NULL,
        PRIMARY KEY (conversation_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE conversation_activity');
  },
};
