import type { Migration } from '@im-repo/db';

export const createMessageOutbox: Migration = {
  name: '0003-create-message-outbox',
  async up({ sql }) {
    // Sends whose RecordMessages has not been confirmed yet. next_attempt_at is both the retry
    // schedule and the claim: a replica that takes a row pushes it into the future.
    await sql(`
      CREATE TABLE message_outbox (
        conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        seq             BIGINT      NOT NULL,
        created_at      DATETIME(3) NOT NULL,
        next_attempt_at DATETIME(3) NOT NULL,
        attempts        INT         NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, seq),
        KEY ix_message_outbox_due (next_attempt_at)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE message_outbox');
  },
};
