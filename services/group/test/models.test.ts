import { checkSchema, openDatabase } from '@im-repo/db';
import { createTestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';
import { GROUP_MODELS } from '../src/group.models';

describe('group models', () => {
  it('describe exactly the tables the migrations build: every table, column, type, nullability, key', async () => {
    const env = await createTestEnvironment('group-models');
    const db = await openDatabase(env.config('group').db, 'group', {
      migrations,
      models: GROUP_MODELS,
    });
    try {
      expect(await checkSchema(db, { everyTable: true })).to.deep.equal([]);
    } finally {
      await db.close();
      await env.teardown();
    }
  });
});
