import { loadConfig, type ServiceName } from '@im-repo/config';
import { createSequelize, ensureDatabase } from './connection';
import { migrateDown, migrateUp, migrationStatus, type Migration } from './migrations';
import { checkSchema } from './schema-check';
import type { ModelCtor } from 'sequelize-typescript';

const USAGE = 'usage: migrate status|up|down';

/**
 * The body of each service's `migrate` entry point (`node dist/migrate.js up`). Writes plain
 * lines to stdout for people; exit code 0 on success, 1 on failure, 2 on bad usage.
 */
export async function runMigrateCli(
  service: ServiceName,
  migrations: Migration[],
  argv: string[],
  models: ModelCtor[] = [],
): Promise<number> {
  const command = argv[0];
  if (command !== 'status' && command !== 'up' && command !== 'down') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig(service);
  if (command !== 'status') await ensureDatabase(config.db);
  const sequelize = createSequelize(config.db, { models });
  const out = (line: string) => process.stdout.write(`[${service}] ${line}\n`);
  try {
    if (command === 'status') {
      const { executed, pending } = await migrationStatus(sequelize, service, migrations);
      for (const name of executed) out(`up      ${name}`);
      for (const name of pending) out(`pending ${name}`);
      for (const p of await checkSchema(sequelize)) {
        out(`schema  ${p.table}${p.column ? `.${p.column}` : ''}: ${p.problem}`);
      }
    } else if (command === 'up') {
      const applied = await migrateUp(sequelize, service, migrations);
      out(applied.length ? `applied ${applied.join(', ')}` : 'already up to date');
    } else {
      const reverted = await migrateDown(sequelize, service, migrations);
      out(reverted.length ? `reverted ${reverted.join(', ')}` : 'nothing to revert');
    }
    return 0;
  } catch (err) {
    process.stderr.write(`[${service}] migrate ${command} failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await sequelize.close();
  }
}
