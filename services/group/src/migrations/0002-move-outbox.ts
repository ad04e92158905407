import type { Migration } from '@im-repo/db';
import { createOutboxTable } from '@im-repo/outbox';
import { PARTICIPANTS_TOPIC } from '../participant-outbox';

/**
 * The participant outbox moves to the shared outbox's table, group_outbox; pending joins are
 * carried over in their order (attempts and schedule kept), so an upgrade loses none.
 */
export const moveOutbox: Migration = {
  name: '0002-move-outbox',
  async up(ctx) {
    await createOutboxTable(ctx, 'group_outbox');
    await ctx.sql(`
      INSERT INTO group_outbox (topic, ordering_key, payload, attempts, next_attempt_at, created_at)
      SELECT '${PARTICIPANTS_TOPIC}', group_id, CAST(user_id AS BINARY), attempts,
             next_attempt_at, created_at
      FROM group_participant_outbox ORDER BY id`);
    await ctx.sql('DROP TABLE group_participant_outbox');
  },
  async down({ sql }) {
    await sql(`
      CREATE TABLE group_participant_outbox (
        id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        group_id        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        user_id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        attempts        INT UNSIGNED NOT NULL DEFAULT 0,
        next_attempt_at DATETIME(3) NOT NULL,
        created_at      DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        KEY idx_group_participant_outbox_due (next_attempt_at, id),
        KEY idx_group_participant_outbox_member (group_id, user_id)
      ) ENGINE=InnoDB`);
    await sql(`
      INSERT INTO group_participant_outbox (group_id, user_id, attempts, next_attempt_at, created_at)
      SELECT ordering_key, payload, attempts, next_attempt_at, created_at
      FROM group_outbox WHERE topic = '${PARTICIPANTS_TOPIC}' ORDER BY id`);
    await sql('DROP TABLE group_outbox');
  },
};
