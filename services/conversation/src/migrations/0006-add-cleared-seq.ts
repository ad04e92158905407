import type { Migration } from '@im-repo/db';

export const addClearedSeq: Migration = {
  name: '0006-add-cleared-seq',
  async up({ sql }) {
    // The user's ClearHistory floor as the message service reported it (RecordCleared): the
    // row shows no last message at or below it. 0: never cleared.
    await sql('ALTER TABLE user_conversations ADD COLUMN cleared_seq BIGINT NOT NULL DEFAULT 0');
  },
  async down({ sql }) {
    await sql('ALTER TABLE user_conversations DROP COLUMN cleared_seq');
  },
};
