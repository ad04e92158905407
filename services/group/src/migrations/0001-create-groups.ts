import type { Migration } from '@im-repo/db';

export const createGroups: Migration = {
  name: '0001-create-groups',
  async up({ sql }) {
    // `groups` is a reserved word in MySQL 8, hence the backquotes wherever it is named.
    // status: 1 active, 2 dismissed. role: 1 member, 2 admin, 3 owner.
    await sql(`
      CREATE TABLE \`groups\` (
        group_id     VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        name         VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        avatar_url   VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
        intro        VARCHAR(512)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
        notice       VARCHAR(2048) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
        owner_id     VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        member_count INT UNSIGNED  NOT NULL,
        status       TINYINT UNSIGNED NOT NULL,
        all_muted    TINYINT(1)    NOT NULL DEFAULT 0,
        created_at   DATETIME(3)   NOT NULL,
        updated_at   DATETIME(3)   NOT NULL,
        PRIMARY KEY (group_id)
      ) ENGINE=InnoDB`);
    // Both list orders are served by an index in list order, so a page costs the same wherever
    // it starts (keyset paging).
    await sql(`
      CREATE TABLE group_members (
        group_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        user_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        role        TINYINT UNSIGNED NOT NULL,
        joined_at   DATETIME(3) NOT NULL,
        muted_until DATETIME(3) NULL,
        PRIMARY KEY (group_id, user_id),
        KEY idx_group_members_group_joined (group_id, joined_at, user_id),
        KEY idx_group_members_user_joined (user_id, joined_at, group_id)
      ) ENGINE=InnoDB`);
    // Joins not yet told to the conversation service; written in the membership transaction.
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
  },
  async down({ sql }) {
    await sql('DROP TABLE group_participant_outbox');
    await sql('DROP TABLE group_members');
    await sql('DROP TABLE `groups`');
  },
};
