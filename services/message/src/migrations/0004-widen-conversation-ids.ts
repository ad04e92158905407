import type { Migration } from '@im-repo/db';

// Two 64-char user ids make a 132-char single-chat id (`si_<a>_<b>`); 0001-0003 gave
// conversation ids only 64. 140 matches the conversation service's columns.
const TABLES = ['messages', 'conversation_seqs', 'message_outbox'];

export const widenConversationIds: Migration = {
  name: '0004-widen-conversation-ids',
  async up({ sql }) {
    for (const table of TABLES) {
      await sql(
        `ALTER TABLE ${table} MODIFY conversation_id
           VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL`,
      );
    }
  },
  async down({ sql }) {
    // Only safe while no id is longer than 64; a longer one makes this fail (strict mode).
    for (const table of TABLES) {
      await sql(
        `ALTER TABLE ${table} MODIFY conversation_id
           VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL`,
      );
    }
  },
};
