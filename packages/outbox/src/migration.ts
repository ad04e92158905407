import type { Migration, MigrationContext } from '@im-repo/db';

const TABLE_NAME = /^[a-z][a-z0-9_]{0,50}$/;

function checkName(table: string): string {
  if (!TABLE_NAME.test(table)) throw new Error(`not an outbox table name: ${table}`);
  return table;
}

/**
 * The DDL of one outbox table. id is the commit order within a key (writers of one key hold a
 * lock on it while they insert); the due index serves the drainer's claim, the key index the
 * "is an older row of this key still undelivered" checks. ordering_key is binary, so keys
 * compare byte for byte (no PAD SPACE, no case folding).
 */
export function outboxTableDdl(table: string): string {
  const t = checkName(table);
  return `
    CREATE TABLE ${t} (
      id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      topic           VARCHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      ordering_key    VARBINARY(255)  NOT NULL,
      payload         MEDIUMBLOB      NOT NULL,
      attempts        INT             NOT NULL DEFAULT 0,
      next_attempt_at DATETIME(3)     NOT NULL,
      created_at      DATETIME(3)     NOT NULL,
      PRIMARY KEY (id),
      KEY ix_${t}_due (next_attempt_at, id),
      KEY ix_${t}_key (topic, ordering_key, id)
    ) ENGINE=InnoDB`;
}

/** Creates the table (the step services compose into migrations that also carry rows over). */
export async function createOutboxTable(ctx: MigrationContext, table: string): Promise<void> {
  await ctx.sql(outboxTableDdl(table));
}

/** A migration that creates one service's outbox table (each service owns its own). */
export function outboxTableMigration(name: string, table: string): Migration {
  checkName(table);
  return {
    name,
    up: (ctx) => createOutboxTable(ctx, table),
    down: (ctx) => ctx.sql(`DROP TABLE ${table}`),
  };
}
