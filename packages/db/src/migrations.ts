import { QueryTypes, type QueryInterface, type Sequelize } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';

export interface MigrationContext {
  sequelize: Sequelize;
  queryInterface: QueryInterface;
  /** Runs one SQL statement. */
  sql(statement: string): Promise<void>;
}

/** One schema step of a service. Names sort in the order they run (`0001-create-users`). */
export interface Migration {
  name: string;
  up(ctx: MigrationContext): Promise<void>;
  down(ctx: MigrationContext): Promise<void>;
}

export interface MigrationStatus {
  executed: string[];
  pending: string[];
}

/**
 * umzug over the service's own meta table (`<service>_migrations`), so services sharing one
 * database keep separate histories.
 */
export function createMigrator(sequelize: Sequelize, service: string, migrations: Migration[]) {
  const context: MigrationContext = {
    sequelize,
    queryInterface: sequelize.getQueryInterface(),
    sql: async (statement) => {
      await sequelize.query(statement);
    },
  };
  return new Umzug<MigrationContext>({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: ({ context: ctx }) => m.up(ctx),
      down: ({ context: ctx }) => m.down(ctx),
    })),
    context,
    storage: new SequelizeStorage({ sequelize, tableName: `${service}_migrations` }),
    logger: undefined,
  });
}

export async function migrationStatus(
  sequelize: Sequelize,
  service: string,
  migrations: Migration[],
): Promise<MigrationStatus> {
  const umzug = createMigrator(sequelize, service, migrations);
  const [executed, pending] = await Promise.all([umzug.executed(), umzug.pending()]);
  return { executed: executed.map((m) => m.name), pending: pending.map((m) => m.name) };
}

/**
 * Runs fn while holding a MySQL named lock for the service's migrations, so replicas starting
 * together migrate one at a time (the second finds nothing pending) instead of racing on DDL.
 */
async function withMigrationLock<T>(
  sequelize: Sequelize,
  service: string,
  fn: () => Promise<T>,
): Promise<T> {
  const name = `${sequelize.getDatabaseName()}.${service}_migrations`;
  // GET_LOCK belongs to a connection: hold one for the whole run.
  return sequelize.transaction(async (t) => {
    const [row] = await sequelize.query<{ got: number | null }>('SELECT GET_LOCK(?, 120) AS got', {
      replacements: [name],
      type: QueryTypes.SELECT,
      transaction: t,
    });
    if (row?.got !== 1) throw new Error(`could not take the migration lock ${name} within 120 s`);
    try {
      return await fn();
    } finally {
      await sequelize.query('SELECT RELEASE_LOCK(?)', { replacements: [name], transaction: t });
    }
  });
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(
  sequelize: Sequelize,
  service: string,
  migrations: Migration[],
): Promise<string[]> {
  return withMigrationLock(sequelize, service, async () => {
    const done = await createMigrator(sequelize, service, migrations).up();
    return done.map((m) => m.name);
  });
}

/** Reverts the last applied migration (one step); returns its name, if any. */
export async function migrateDown(
  sequelize: Sequelize,
  service: string,
  migrations: Migration[],
): Promise<string[]> {
  return withMigrationLock(sequelize, service, async () => {
    const done = await createMigrator(sequelize, service, migrations).down({ step: 1 });
    return done.map((m) => m.name);
  });
}
