import { checkSchema, openDatabase, type Sequelize } from '@im-repo/db';
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
});
