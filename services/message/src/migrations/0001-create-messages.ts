import type { Migration } from '@im-repo/db';

export const createMessages: Migration = {
  name: '0001-create-messages',
  async up({ sql }) {
    // client_msg_id is VARBINARY (its UTF-8 bytes): binary strings compare without PAD SPACE, so
    // 'a' and 'a ' stay two different ids on MariaDB and MySQL alike (utf8mb4_bin pads).
    await sql(`
      CREATE TABLE messages (
        conversation_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        seq               BIGINT       NOT NULL,
        server_msg_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        client_msg_id     VARBINARY(256) NOT NULL,
        conversation_type TINYINT      NOT NULL,
        sender_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        recipient_id      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        content_type      SMALLINT     NOT NULL,
        content           MEDIUMBLOB   NOT NULL,
        status            TINYINT      NOT NULL,
        sent_at           DATETIME(3)  NOT NULL,
        recalled_at       DATETIME(3)  NULL,
        PRIMARY KEY (conversation_id, seq),
        UNIQUE KEY uk_messages_server_msg_id (server_msg_id),
        UNIQUE KEY uk_messages_sender_client (sender_id, client_msg_id)
      ) ENGINE=InnoDB`);
  },
  async down({ sql }) {
    await sql('DROP TABLE messages');
  },
};
