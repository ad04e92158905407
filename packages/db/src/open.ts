import type { Sequelize } from 'sequelize';
import { createSequelize, ensureDatabase, type DbConfig } from './connection';
import { migrateUp, type Migration } from './migrations';

export interface OpenDatabaseOptions {
  migrations: Migration[];
}

/**
 * A service's database at start: created if missing and migrated (unless auto_migrate is off,
 * for deployments that run `pnpm migrate` as a separate step), then connected.
 */
export async function openDatabase(
  cfg: DbConfig,
  service: string,
  options: OpenDatabaseOptions,
): Promise<Sequelize> {
  if (cfg.auto_migrate) await ensureDatabase(cfg);
  const sequelize = createSequelize(cfg);
  try {
    await sequelize.authenticate();
    if (cfg.auto_migrate) await migrateUp(sequelize, service, options.migrations);
  } catch (err) {
    await sequelize.close();
    throw err;
  }
  return sequelize;
}
