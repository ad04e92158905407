import { checkSchema, openDatabase } from '@im-repo/db';
import { createTestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { MESSAGE_MODELS } from '../src/message.models';

describe('message models', () => {
  it('describe exactly the tables the migrations build: every table, column, type, nullability, key', async () => {
    const env = await createTestEnvironment('message-models');
    const db = await openDatabase(env.config('message').db, 'message', {
      migrations,
      models: MESSAGE_MODELS,
    });
    try {
      expect(await checkSchema(db, { everyTable: true })).to.deep.equal([]);
    } finally {
      await db.close();
      await env.teardown();
    }
  });
});
