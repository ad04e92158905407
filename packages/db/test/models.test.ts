import { UnavailableError } from '@im-repo/errors';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import {
  checkSchema,
  Column,
  createSequelize,
  DataType,
  execute,
  migrateDown,
  migrateUp,
  Model,
  openDatabase,
  select,
  Table,
  translateDbError,
  withTransaction,
  type Database,
  type Migration,
} from '../src';

const migrations: Migration[] = [
  {
    name: '0001-create-gadgets',
    up: ({ sql }) =>
      sql(`CREATE TABLE gadgets (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           name VARCHAR(20) NOT NULL, seen_at DATETIME(3) NULL, active TINYINT(1) NOT NULL DEFAULT 1)`),
    down: ({ sql }) => sql('DROP TABLE gadgets'),
  },
  {
    name: '0002-add-color',
    up: ({ sql }) => sql("ALTER TABLE gadgets ADD COLUMN color VARCHAR(10) NOT NULL DEFAULT ''"),
    down: ({ sql }) => sql('ALTER TABLE gadgets DROP COLUMN color'),
  },
];

@Table({ tableName: 'gadgets', modelName: 'gadgets' })
class Gadget extends Model {
  @Column({ type: DataType.BIGINT.UNSIGNED, primaryKey: true, autoIncrement: true })
  declare id: number;

  @Column({ type: DataType.STRING(20), allowNull: false })
  name!: string;

  @Column({ type: DataType.DATE(3), allowNull: true })
  seen_at!: Date | null;

  @Column({ type: DataType.BOOLEAN, allowNull: false, defaultValue: true })
  active!: boolean;

  @Column({ type: DataType.STRING(10), allowNull: false, defaultValue: '' })
  color!: string;
}

describe('models and the driver pool', () => {
  let env: TestEnvironment;
  let db: Database;

  before(async () => {
    env = await createTestEnvironment('db-models');
    db = createSequelize(env.config('user').db, { models: [Gadget] });
  });
  after(async () => {
    await db.close();
    await env.teardown();
  });

  it('the schema check names a missing table, a missing column and a column the model lacks', async () => {
    expect(await checkSchema(db)).to.deep.equal([
      { table: 'gadgets', problem: 'table is missing (a migration has not run?)', fatal: true },
    ]);
    await migrateUp(db, 'gadgets', migrations);
    expect(await checkSchema(db)).to.deep.equal([]);

    await migrateDown(db, 'gadgets', migrations);
    expect(await checkSchema(db)).to.deep.equal([
      { table: 'gadgets', column: 'color', problem: 'column is missing', fatal: true },
    ]);
    await migrateUp(db, 'gadgets', migrations);
    // A newer replica's migration added a column: this code still runs (not fatal).
    await execute(db, 'ALTER TABLE gadgets ADD COLUMN size INT NULL');
    await execute(db, 'ALTER TABLE gadgets MODIFY name VARCHAR(30) NOT NULL');
    expect(await checkSchema(db)).to.deep.equal([
      {
        table: 'gadgets',
        column: 'name',
        problem: 'type is VARCHAR(30), model says VARCHAR(20)',
        fatal: true,
      },
      { table: 'gadgets', column: 'size', problem: 'column is not in the model', fatal: false },
    ]);
    await execute(db, 'ALTER TABLE gadgets DROP COLUMN size, MODIFY name VARCHAR(20) NOT NULL');
    // Only where one service's tables are alone: every table has a model.
    await execute(db, 'CREATE TABLE stray (id INT PRIMARY KEY)');
    expect(await checkSchema(db, { everyTable: true })).to.deep.equal([
      { table: 'stray', problem: 'table has no model', fatal: false },
    ]);
    await execute(db, 'DROP TABLE stray');
  });

  it('a service whose tables do not fit its models does not start, and says which', async () => {
    const cfg = {
      ...env.config('user').db,
      auto_migrate: false,
      name: `${env.config('user').db.name}_empty`,
    };
    await openDatabase({ ...cfg, auto_migrate: true }, 'none', { migrations: [] }).then((d) =>
      d.close(),
    );
    const err = await openDatabase(cfg, 'gadgets', { migrations, models: [Gadget] }).catch(
      (e: Error) => e,
    );
    expect(String(err))
      .to.include('the gadgets tables do not fit the code')
      .and.include('gadgets: table is missing');
    await execute(db, `DROP DATABASE \`${cfg.name}\``);
  });

  it('binds a model to each instance (repository mode): two instances read their own databases', async () => {
    const otherName = `${env.config('user').db.name}_other`;
    const other = await openDatabase({ ...env.config('user').db, name: otherName }, 'gadgets', {
      migrations,
      models: [Gadget],
    });
    try {
      await db.getRepository(Gadget).create({ name: 'here' });
      await other.getRepository(Gadget).create({ name: 'there' });
      expect(db.getRepository(Gadget)).to.not.equal(other.getRepository(Gadget));
      expect((await db.getRepository(Gadget).findAll()).map((g) => g.name)).to.deep.equal(['here']);
      expect((await other.getRepository(Gadget).findAll()).map((g) => g.name)).to.deep.equal([
        'there',
      ]);
    } finally {
      await execute(other, `DROP DATABASE \`${otherName}\``);
      await other.close();
    }
  });

  it('driver connections run in UTC and count changed rows, not matched ones', async () => {
    const [tz] = await select<{ tz: string }>(db, 'SELECT @@session.time_zone AS tz');
    expect(tz.tz).to.equal('+00:00');
    await execute(
      db,
      "INSERT INTO gadgets (name, seen_at) VALUES ('utc', '2026-01-02 03:04:05.678')",
    );
    const [row] = await select<{ seen_at: Date }>(
      db,
      "SELECT seen_at FROM gadgets WHERE name = 'utc'",
    );
    expect(row.seen_at.toISOString()).to.equal('2026-01-02T03:04:05.678Z');
    const same = await execute(db, "UPDATE gadgets SET active = 1 WHERE name = 'utc'");
    expect(same.affectedRows).to.equal(0);
    const changed = await execute(db, "UPDATE gadgets SET active = 0 WHERE name = 'utc'");
    expect(changed.affectedRows).to.equal(1);
  });

  it('a pool with every connection busy answers UNAVAILABLE after the connect timeout, not never', async () => {
    const small = createSequelize({
      ...env.config('user').db,
      pool_max: 1,
      connect_timeout_ms: 300,
    });
    try {
      let release!: () => void;
      const held = withTransaction(small, () => new Promise<void>((r) => (release = r)));
      await new Promise((r) => setTimeout(r, 50));
      const err = await select(small, 'SELECT 1').catch((e: unknown) => e);
      expect(translateDbError(err)).to.be.instanceOf(UnavailableError);
      release();
      await held;
      expect(await select(small, 'SELECT 1 AS one')).to.deep.equal([{ one: 1 }]);
    } finally {
      await small.close();
    }
  });

  it('a connection the server killed is not handed out again', async () => {
    const small = createSequelize({ ...env.config('user').db, pool_max: 1 });
    try {
      const [{ id }] = await select<{ id: number }>(small, 'SELECT CONNECTION_ID() AS id');
      await execute(db, `KILL CONNECTION ${id}`);
      await new Promise((r) => setTimeout(r, 100));
      const [{ id: next }] = await select<{ id: number }>(small, 'SELECT CONNECTION_ID() AS id');
      expect(next).to.not.equal(id);
    } finally {
      await small.close();
    }
  });
});
