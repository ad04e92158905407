import type { ModelCtor } from 'sequelize-typescript';
import { createSequelize, ensureDatabase, type Database, type DbConfig } from './connection';
import { migrateUp, type Migration } from './migrations';
import { checkSchema, describeProblems } from './schema-check';

export interface OpenDatabaseOptions {
  migrations: Migration[];
  /** The service's table models; the tables must fit them or the service does not start. */
  models?: ModelCtor[];
}

/**
 * A service's database at start: created if missing and migrated (unless auto_migrate is off,
 * for deployments that run `pnpm migrate` as a separate step), connected, and checked against
 * the service's models, so a schema behind the code stops the start with the tables named
 * instead of failing calls later.
 */
export async function openDatabase(
  cfg: DbConfig,
  service: string,
  options: OpenDatabaseOptions,
): Promise<Database> {
  if (cfg.auto_migrate) await ensureDatabase(cfg);
  const sequelize = createSequelize(cfg, { models: options.models ?? [] });
  try {
    await sequelize.authenticate();
    if (cfg.auto_migrate) await migrateUp(sequelize, service, options.migrations);
    const fatal = (await checkSchema(sequelize)).filter((p) => p.fatal);
    if (fatal.length) {
      throw new Error(`the ${service} tables do not fit the code: ${describeProblems(fatal)}`);
    }
  } catch (err) {
    await sequelize.close();
    throw err;
  }
  return sequelize;
}
