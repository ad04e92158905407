import type { Migration } from '@im-repo/db';

export const createUserConversations: Migration = {
  name: '0001-create-user-conversations',
  async up({ sql }) {
    // One row per (user, conversation). The primary key is also the list's only index: a list
    // reads all of one user's rows in one range scan (the order depends on the per-conversation
    // activity, which lives in another table, so no index on this one could give it).
    // hidden_seq -1 means never hidden; otherwise the row is hidden while the conversation's
    // max_seq <= hidden_seq (0 hides a conversation that has no messages yet).
    await sql(`
      CREATE TABLE user_conversations (
        user_id           VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        conversation_id   VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        conversation_type TINYINT UNSIGNED NOT NULL,
        peer_id           VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        read_seq          BIGINT       NOT NULL DEFAULT 0,
        pinned            TINYINT(1)   NOT NULL DEFAULT 0,
        muted             TINYINT(1)   NOT NULL DEFAULT 0,
        hidden_seq        BIGINT       NOT NULL DEFAULT -1,
        created_at        DATETIME(3)  NOT NULL,
        updated_at        DATETIME(3)  NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE user_conversations');
  },
};
