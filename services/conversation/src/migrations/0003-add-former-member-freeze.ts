import type { Migration } from '@im-repo/db';

export const addFormerMemberFreeze: Migration = {
  name: '0003-add-former-member-freeze',
  async up({ sql }) {
    // A former group member's row is frozen where the group was when they left: frozen_seq is
    // that max_seq (NULL: the row follows the conversation), frozen_at the sent_at of the
    // message at it (NULL when frozen_seq is 0).
    await sql(`
      ALTER TABLE user_conversations
        ADD COLUMN frozen_seq BIGINT      NULL DEFAULT NULL,
        ADD COLUMN frozen_at  DATETIME(3) NULL DEFAULT NULL`);
  },
  async down({ sql }) {
    await sql('ALTER TABLE user_conversations DROP COLUMN frozen_at, DROP COLUMN frozen_seq');
  },
};
