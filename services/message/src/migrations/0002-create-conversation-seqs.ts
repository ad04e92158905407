import type { Migration } from '@im-repo/db';

export const createConversationSeqs: Migration = {
  name: '0002-create-conversation-seqs',
  async up({ sql }) {
    // The seq allocator: its row lock serialises the sends of one conversation. The head's last
    // message is the messages row at (conversation_id, max_seq), so no summary is copied here.
    await sql(`
      CREATE TABLE conversation_seqs (
        conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        max_seq         BIGINT      NOT NULL,
        updated_at      DATETIME(3) NOT NULL,
        PRIMARY KEY (conversation_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE conversation_seqs');
  },
};
