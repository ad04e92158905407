import { loadConfig } from '@im-repo/config';
import { AlreadyExistsError, Code, InvalidArgumentError, UnavailableError } from '@im-repo/errors';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import {
  createSequelize,
  execute,
  isUniqueViolation,
  migrateDown,
  migrateUp,
  migrationStatus,
  openDatabase,
  pingDatabase,
  select,
  translateDbError,
  violatedKey,
  withTransaction,
  type Migration,
  type Sequelize,
} from '../src';

const migrations: Migration[] = [
  {
    name: '0001-create-things',
    up: ({ sql }) =>
      sql(`CREATE TABLE things (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, at DATETIME(3) NULL,
           UNIQUE KEY uk_things_name (name)) ENGINE=InnoDB`),
    down: ({ sql }) => sql('DROP TABLE things'),
  },
  {
    name: '0002-add-note',
    up: ({ sql }) => sql("ALTER TABLE things ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT ''"),
    down: ({ sql }) => sql('ALTER TABLE things DROP COLUMN note'),
  },
];

const tables = async (db: Sequelize) =>
  (
    await select<{ t: string }>(
      db,
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()',
    )
  ).map((r) => r.t);

describe('db', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('db');
    db = createSequelize(env.config('user').db);
  });
  after(async () => {
    await db.close();
    await env.teardown();
  });

  it('migrates up, reports status, reverts one step at a time, and migrates up again', async () => {
    expect(await migrationStatus(db, 'demo', migrations)).to.deep.equal({
      executed: [],
      pending: ['0001-create-things', '0002-add-note'],
    });
    expect(await migrateUp(db, 'demo', migrations)).to.deep.equal([
      '0001-create-things',
      '0002-add-note',
    ]);
    expect(await migrateUp(db, 'demo', migrations)).to.deep.equal([]);
    expect(await tables(db)).to.include.members(['things', 'demo_migrations']);

    expect(await migrateDown(db, 'demo', migrations)).to.deep.equal(['0002-add-note']);
    const columns = await select<{ c: string }>(
      db,
      "SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'things'",
    );
    expect(columns.map((c) => c.c)).not.to.include('note');
    expect((await migrationStatus(db, 'demo', migrations)).pending).to.deep.equal([
      '0002-add-note',
    ]);

    expect(await migrateDown(db, 'demo', migrations)).to.deep.equal(['0001-create-things']);
    expect(await tables(db)).not.to.include('things');
    expect(await migrateDown(db, 'demo', migrations)).to.deep.equal([]);

    await migrateUp(db, 'demo', migrations);
    expect((await migrationStatus(db, 'demo', migrations)).executed).to.have.length(2);
  });

  it('lets replicas starting together migrate one at a time (named lock)', async () => {
    const racers = [createSequelize(env.config('user').db), createSequelize(env.config('user').db)];
    const steps: Migration[] = [
      {
        name: '0001-create-raced',
        up: async ({ sql }) => {
          await sql('CREATE TABLE raced (id INT PRIMARY KEY)');
          await new Promise((r) => setTimeout(r, 200)); // widen the race window
        },
        down: ({ sql }) => sql('DROP TABLE raced'),
      },
    ];
    try {
      const applied = await Promise.all(racers.map((r) => migrateUp(r, 'raced', steps)));
      expect(applied.map((a) => a.length).sort()).to.deep.equal([0, 1]);
    } finally {
      await Promise.all(racers.map((r) => r.close()));
    }
  });

  it('keeps a separate history per service in one database', async () => {
    const other: Migration[] = [
      {
        name: '0001-create-others',
        up: ({ sql }) => sql('CREATE TABLE others (id INT PRIMARY KEY)'),
        down: ({ sql }) => sql('DROP TABLE others'),
      },
    ];
    await migrateUp(db, 'other', other);
    expect((await migrationStatus(db, 'demo', migrations)).executed).to.have.length(2);
    expect((await migrationStatus(db, 'other', other)).executed).to.deep.equal([
      '0001-create-others',
    ]);
  });

  it('select/execute bind parameters (arrays expand for IN) and keep DATETIME(3) milliseconds', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const w = await execute(db, 'INSERT INTO things (id, name, at) VALUES (?, ?, ?), (?, ?, ?)', [
      1,
      "o'brien",
      at,
      2,
      'b',
      at,
    ]);
    expect(w.affectedRows).to.equal(2);
    const rows = await select<{ id: number; name: string; at: Date }>(
      db,
      'SELECT id, name, at FROM things WHERE id IN (?) ORDER BY id',
      [[1, 2]],
    );
    expect(rows.map((r) => r.name)).to.deep.equal(["o'brien", 'b']);
    expect(rows[0]!.at.toISOString()).to.equal(at.toISOString());
  });

  it('maps a unique violation to ALREADY_EXISTS and names the key', async () => {
    const err = await execute(db, 'INSERT INTO things (id, name) VALUES (3, ?)', ['b']).catch(
      (e: unknown) => e,
    );
    expect(isUniqueViolation(err)).to.equal(true);
    expect(violatedKey(err)).to.equal('uk_things_name');
    expect(translateDbError(err)).to.be.instanceOf(AlreadyExistsError);
    const pk = await execute(db, 'INSERT INTO things (id, name) VALUES (1, ?)', ['zz']).catch(
      (e: unknown) => e,
    );
    expect(violatedKey(pk)).to.equal('PRIMARY');
  });

  it('maps a value the store refuses to INVALID_ARGUMENT naming the column, never INTERNAL', async () => {
    await execute(
      db,
      `CREATE TABLE narrow (id SMALLINT PRIMARY KEY, code VARCHAR(4) CHARACTER SET ascii NOT NULL)`,
    );
    const fail = (sql: string, params: unknown[]) =>
      execute(db, sql, params as never).then(
        () => expect.fail('the insert should fail'),
        (e: unknown) => translateDbError(e),
      );
    const tooLong = await fail('INSERT INTO narrow (id, code) VALUES (1, ?)', ['abcdef']);
    expect(tooLong).to.be.instanceOf(InvalidArgumentError);
    expect(tooLong).to.include({ reason: 'VALUE_TOO_LONG', field: 'code' });
    const outOfRange = await fail('INSERT INTO narrow (id, code) VALUES (?, ?)', [99_999, 'a']);
    expect(outOfRange).to.include({ reason: 'VALUE_OUT_OF_RANGE', field: 'id' });
    const notAscii = await fail('INSERT INTO narrow (id, code) VALUES (2, ?)', ['\u00e9']);
    expect(notAscii).to.include({ reason: 'INVALID_VALUE', field: 'code' });
    // A statement over max_allowed_packet (the server drops it before it parses anything).
    const tooBig = translateDbError(
      Object.assign(new Error('x'), { code: 'ER_NET_PACKET_TOO_LARGE' }),
    );
    expect(tooBig).to.include({ code: Code.RESOURCE_EXHAUSTED, reason: 'REQUEST_TOO_LARGE' });
  });

  it('maps an unreachable database to UNAVAILABLE, and ping says false', async () => {
    const cfg = loadConfig('user', { file: '' }).db;
    const down = createSequelize({ ...cfg, port: 1, connect_timeout_ms: 300 });
    try {
      expect(await pingDatabase(down, 1000)).to.equal(false);
      const err = await select(down, 'SELECT 1').catch((e: unknown) => e);
      expect(translateDbError(err)).to.be.instanceOf(UnavailableError);
      await openDatabase({ ...cfg, port: 1, connect_timeout_ms: 300, auto_migrate: false }, 'x', {
        migrations: [],
      }).then(
        () => expect.fail('should not open'),
        (e: unknown) => expect(translateDbError(e)).to.be.instanceOf(UnavailableError),
      );
    } finally {
      await down.close();
    }
    expect(translateDbError(new Error('something else'))).to.equal(undefined);
  });

  it('withTransaction commits, rolls back on error, and retries a deadlock victim', async () => {
    await withTransaction(db, (t) =>
      execute(db, 'INSERT INTO things (id, name) VALUES (10, ?)', ['t10'], t),
    );
    await withTransaction(db, async (t) => {
      await execute(db, 'INSERT INTO things (id, name) VALUES (11, ?)', ['t11'], t);
      throw new Error('abort');
    }).catch(() => undefined);
    const ids = (
      await select<{ id: number }>(db, 'SELECT id FROM things WHERE id IN (10, 11)')
    ).map((r) => r.id);
    expect(ids).to.deep.equal([10]);

    // Two transactions lock rows 20 and 21 in opposite orders: InnoDB kills one, which is retried.
    await execute(db, "INSERT INTO things (id, name) VALUES (20, 'a20'), (21, 'a21')");
    let attempts = 0;
    const lockBoth = (first: number, second: number) =>
      withTransaction(db, async (t) => {
        attempts++;
        await execute(db, 'UPDATE things SET note = ? WHERE id = ?', [`x${first}`, first], t);
        await new Promise((r) => setTimeout(r, 100));
        await execute(db, 'UPDATE things SET note = ? WHERE id = ?', [`x${first}`, second], t);
      });
    await Promise.all([lockBoth(20, 21), lockBoth(21, 20)]);
    expect(attempts).to.be.greaterThan(2);

    // Without retries the victim's driver error reaches the caller as UNAVAILABLE, retryable.
    const once = (first: number, second: number) =>
      withTransaction(
        db,
        async (t) => {
          await execute(db, 'UPDATE things SET note = ? WHERE id = ?', ['y', first], t);
          await new Promise((r) => setTimeout(r, 100));
          await execute(db, 'UPDATE things SET note = ? WHERE id = ?', ['y', second], t);
        },
        { retries: 0 },
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
    const outcomes = await Promise.all([once(20, 21), once(21, 20)]);
    const victims = outcomes.filter((e) => e !== undefined);
    expect(victims).to.have.length(1);
    const mapped = translateDbError(victims[0]);
    expect(mapped).to.be.instanceOf(UnavailableError);
    expect(mapped!.reason).to.equal('DATABASE_CONTENTION');
  });

  it('openDatabase creates a missing database and migrates it when auto_migrate is on', async () => {
    const cfg = { ...env.config('user').db, name: `${env.dbName}_x` };
    const opened = await openDatabase(cfg, 'demo', { migrations });
    try {
      expect(await tables(opened)).to.include('things');
    } finally {
      await execute(opened, `DROP DATABASE \`${cfg.name}\``);
      await opened.close();
    }
  });
});
