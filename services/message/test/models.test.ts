import { checkSchema, openDatabase, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { MESSAGE_MODELS } from '../src/message.models';

describe('message models', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('message-models');
    db = await openDatabase(env.config('message').db, 'message', {
      migrations,
      models: MESSAGE_MODELS,
    });
  });
  after(async () => {
    await db.close();
    await env.teardown();
  });

  it('describe exactly the tables the migrations build (columns, types, nullability, keys)', async () => {
    expect(await checkSchema(db)).to.deep.equal([]);
  });
});
