import { createSequelize, migrateDown, migrateUp, select, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';

describe('migration 0002: the participant outbox moves to the shared outbox table', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('group-migrate');
    db = createSequelize(env.config('group').db);
  });

  after(async () => {
    await db?.close();
    await env?.teardown();
  });

  it('carries pending joins over in their order, and back on down', async () => {
    await migrateUp(db, 'group', migrations.slice(0, 1));
    await db.query(
      `INSERT INTO group_participant_outbox (group_id, user_id, attempts, next_attempt_at, created_at)
       VALUES ('g1', 'u2', 0, '2026-01-02 03:04:06.000', '2026-01-02 03:04:05.000'),
              ('g2', 'u1', 3, '2026-01-02 03:04:09.000', '2026-01-02 03:04:05.000'),
              ('g1', 'u1', 1, '2026-01-02 03:04:07.000', '2026-01-02 03:04:05.000')`,
    );
    await migrateUp(db, 'group', migrations);
    const rows = await select<{
      topic: string;
      ordering_key: Buffer;
      payload: Buffer;
      attempts: number;
    }>(db, 'SELECT topic, ordering_key, payload, attempts FROM group_outbox ORDER BY id');
    expect(
      rows.map((r) => [r.topic, r.ordering_key.toString(), r.payload.toString(), r.attempts]),
    ).to.deep.equal([
      ['conversation.participants', 'g1', 'u2', 0],
      ['conversation.participants', 'g2', 'u1', 3],
      ['conversation.participants', 'g1', 'u1', 1],
    ]);
    const [old] = await select<{ n: number }>(
      db,
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'group_participant_outbox'",
    );
    expect(Number(old!.n)).to.equal(0);

    // Later migrations first, one step at a time, down to this one.
    for (let reverted: string[] = []; !reverted.includes('0002-move-outbox');) {
      reverted = await migrateDown(db, 'group', migrations);
      expect(reverted, 'nothing left to revert').to.have.length(1);
    }
    const back = await select<{ group_id: string; user_id: string; attempts: number }>(
      db,
      'SELECT group_id, user_id, attempts FROM group_participant_outbox ORDER BY id',
    );
    expect(back.map((r) => [r.group_id, r.user_id, r.attempts])).to.deep.equal([
      ['g1', 'u2', 0],
      ['g2', 'u1', 3],
      ['g1', 'u1', 1],
    ]);
  });
});
