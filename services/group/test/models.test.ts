import { checkSchema, openDatabase, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { GROUP_MODELS } from '../src/group.models';

describe('group models', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('group-models');
    db = await openDatabase(env.config('group').db, 'group', { migrations, models: GROUP_MODELS });
  });
  after(async () => {
    await db.close();
    await env.teardown();
  });

  it('describe exactly the tables the migrations build (columns, types, nullability, keys)', async () => {
    expect(await checkSchema(db)).to.deep.equal([]);
  });
});
