import { checkSchema, openDatabase, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { CONVERSATION_MODELS } from '../src/conversation.models';

describe('conversation models', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('conversation-models');
    db = await openDatabase(env.config('conversation').db, 'conversation', {
      migrations,
      models: CONVERSATION_MODELS,
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
