import { checkSchema, openDatabase, select, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { USER_MODELS } from '../src/user.models';

describe('user models', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('user-models');
    db = await openDatabase(env.config('user').db, 'user', { migrations, models: USER_MODELS });
  });
  after(async () => {
    await db.close();
    await env.teardown();
  });

  it('describe exactly the tables the migrations build (columns, types, nullability, keys)', async () => {
    expect(await checkSchema(db)).to.deep.equal([]);
  });

  it('cover every table the migrations build', async () => {
    const built = await select<{ name: string }>(
      db,
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()',
    );
    // umzug's history table has its model too (its SequelizeStorage defines one).
    const modelled = Object.values(db.models).map((m) => String(m.getTableName()));
    expect(built.map((t) => t.name)).to.have.members(modelled);
  });
});
