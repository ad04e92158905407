import { createSequelize, migrateDown, migrateUp, select, type Sequelize } from '@im-repo/db';
import { MessageRecord as RecordMessage } from '@im-repo/proto/conversation';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { migrations } from '../src/migrations';

describe('migration 0005: the record outbox moves to the shared outbox table', () => {
  let env: TestEnvironment;
  let db: Sequelize;

  before(async () => {
    env = await createTestEnvironment('message-migrate');
    db = createSequelize(env.config('message').db);
  });

  after(async () => {
    await db?.close();
    await env?.teardown();
  });

  it('carries pending rows over as RecordMessages payloads, and back on down', async () => {
    const before = migrations.findIndex((m) => m.name.startsWith('0005'));
    await migrateUp(db, 'message', migrations.slice(0, before));
    for (const seq of [1, 2, 3]) {
      await db.query(
        `INSERT INTO messages (conversation_id, seq, server_msg_id, client_msg_id, conversation_type,
           sender_id, recipient_id, content_type, content, status, sent_at)
         VALUES ('si_a_b', ?, ?, ?, 1, 'a', 'b', 1, 'hi', 1, '2026-01-02 03:04:05.678')`,
        { replacements: [seq, `s${seq}`, `c${seq}`] },
      );
    }
    // Seq 1 was delivered; 2 and 3 are pending, 3 after two failed attempts.
    await db.query(
      `INSERT INTO message_outbox (conversation_id, seq, created_at, next_attempt_at, attempts) VALUES
         ('si_a_b', 3, '2026-01-02 03:04:05.678', '2026-01-02 03:04:09.000', 2),
         ('si_a_b', 2, '2026-01-02 03:04:05.678', '2026-01-02 03:04:06.000', 0)`,
    );

    await migrateUp(db, 'message', migrations);
    const rows = await select<{
      topic: string;
      ordering_key: Buffer;
      payload: Buffer;
      attempts: number;
      next_attempt_at: Date;
    }>(
      db,
      'SELECT topic, ordering_key, payload, attempts, next_attempt_at FROM message_outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.topic, r.ordering_key.toString(), r.attempts])).to.deep.equal([
      ['conversation.records', 'si_a_b', 0],
      ['conversation.records', 'si_a_b', 2],
    ]);
    expect(rows.map((r) => RecordMessage.decode(r.payload))).to.deep.equal(
      [2, 3].map((seq) => ({
        conversationId: 'si_a_b',
        conversationType: 1,
        senderId: 'a',
        recipientId: 'b',
        seq,
        sentAt: new Date('2026-01-02T03:04:05.678Z'),
      })),
    );
    expect(rows[1]!.next_attempt_at.toISOString()).to.equal('2026-01-02T03:04:09.000Z');
    const [legacy] = await select<{ n: number }>(
      db,
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'message_outbox_%'",
    );
    expect(Number(legacy!.n)).to.equal(0);

    // Later migrations first, one step at a time, down to this one.
    for (let reverted: string[] = []; !reverted.includes('0005-move-outbox');) {
      reverted = await migrateDown(db, 'message', migrations);
      expect(reverted, 'nothing left to revert').to.have.length(1);
    }
    const back = await select<{ seq: number; attempts: number }>(
      db,
      'SELECT seq, attempts FROM message_outbox ORDER BY seq',
    );
    expect(back.map((r) => [Number(r.seq), r.attempts])).to.deep.equal([
      [2, 0],
      [3, 2],
    ]);
  });
});
