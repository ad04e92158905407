import { checkSchema, openDatabase } from '@im-repo/db';
import { createTestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { USER_MODELS } from '../src/user.models';

describe('user models', () => {
  it('describe exactly the tables the migrations build: every table, column, type, nullability, key', async () => {
    const env = await createTestEnvironment('user-models');
    const db = await openDatabase(env.config('user').db, 'user', {
      migrations,
      models: USER_MODELS,
    });
    try {
      expect(await checkSchema(db, { everyTable: true })).to.deep.equal([]);
    } finally {
      await db.close();
      await env.teardown();
    }
  });
});
