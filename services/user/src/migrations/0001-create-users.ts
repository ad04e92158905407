import type { Migration } from '@im-repo/db';

export const createUsers: Migration = {
  name: '0001-create-users',
  async up({ sql }) {
    // ascii_general_ci on username makes uniqueness (and login lookup) case-insensitive.
    await sql(`
      CREATE TABLE users (
        user_id       VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        username      VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
        password_hash VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        nickname      VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        avatar_url    VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
        created_at    DATETIME(3)   NOT NULL,
        updated_at    DATETIME(3)   NOT NULL,
        PRIMARY KEY (user_id),
        UNIQUE KEY uk_users_username (username)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE users');
  },
};
