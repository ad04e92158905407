import type { Migration } from '@im-repo/db';

export const createFloorsAndExpiry: Migration = {
  name: '0007-create-floors-and-expiry',
  async up({ sql }) {
    // ClearHistory: one user's floor in one conversation (they read only seqs above it). Keyed
    // by conversation first, like every other table here, so it shards with messages.
    await sql(`
      CREATE TABLE message_floors (
        conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        user_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        cleared_seq     BIGINT       NOT NULL,
        updated_at      DATETIME(3)  NOT NULL,
        PRIMARY KEY (conversation_id, user_id)
      ) ENGINE=InnoDB`);
    // Retention: every seq up to expired_seq is expired, none above it. Its own table rather
    // than a column of conversation_seqs, so the retention job never takes the row lock that
    // sends queue on.
    await sql(`
      CREATE TABLE message_expiry (
        conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        expired_seq     BIGINT       NOT NULL,
        updated_at      DATETIME(3)  NOT NULL,
        PRIMARY KEY (conversation_id)
      ) ENGINE=InnoDB`);
    // The retention job's search: unexpired messages by age. Expired rows leave the status
    // ranges it scans, so its cost does not grow with what already expired.
    await sql('ALTER TABLE messages ADD KEY ix_messages_status_sent_at (status, sent_at)');
  },
  async down({ sql }) {
    await sql('ALTER TABLE messages DROP KEY ix_messages_status_sent_at');
    await sql('DROP TABLE message_expiry');
    await sql('DROP TABLE message_floors');
  },
};
