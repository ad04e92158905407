import { checkSchema, openDatabase } from '@im-repo/db';
import { createTestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { CONVERSATION_MODELS } from '../src/conversation.models';

describe('conversation models', () => {
  it('describe exactly the tables the migrations build: every table, column, type, nullability, key', async () => {
    const env = await createTestEnvironment('conversation-models');
    const db = await openDatabase(env.config('conversation').db, 'conversation', {
      migrations,
      models: CONVERSATION_MODELS,
    });
    try {
      expect(await checkSchema(db, { everyTable: true })).to.deep.equal([]);
    } finally {
      await db.close();
      await env.teardown();
    }
  });
});
