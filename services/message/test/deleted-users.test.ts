import { execute, openDatabase, select, type Sequelize } from '@im-repo/db';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { DeletedUsersRepository } from '../src/deleted-users.repository';
import { migrations } from '../src/migrations';
import { DeletedUserCheck } from '../src/user-deletion';

describe('deleted users (message_deleted_users, erasure batches)', () => {
  let env: TestEnvironment;
  let db: Sequelize;
  let repo: DeletedUsersRepository;

  before(async () => {
    env = await createTestEnvironment('message-deleted');
    db = await openDatabase(env.config('message').db, 'message', { migrations });
    repo = new DeletedUsersRepository(db);
  });
  after(async () => {
    await db?.close();
    await env?.teardown();
  });

  /** A message row as a send writes it (status 1 normal, 2 recalled). */
  const insert = (conversationId: string, seq: number, sender: string, status = 1) =>
    execute(
      db,
      `INSERT INTO messages (conversation_id, seq, server_msg_id, client_msg_id, conversation_type,
         sender_id, recipient_id, content_type, content, status, sent_at)
       VALUES (?, ?, ?, ?, 1, ?, 'r', 1, ?, ?, UTC_TIMESTAMP(3))`,
      [
        conversationId,
        seq,
        `s-${conversationId}-${seq}`,
        `c-${conversationId}-${seq}`,
        sender,
        Buffer.from(`text ${seq}`),
        status,
      ],
    );
  const rows = (sender: string) =>
    select<{ seq: number; status: number; content: Buffer }>(
      db,
      'SELECT seq, status, content FROM messages WHERE sender_id = ? ORDER BY conversation_id, seq',
      [sender],
    );

  it('erases a deleted user’s messages in batches from a stored cursor, and nobody else’s', async () => {
    await insert('si_r_x', 1, 'x');
    await insert('si_r_x', 2, 'y');
    await insert('si_r_x', 3, 'x', 2);
    await insert('sg_g', 1, 'x');
    await insert('sg_g', 2, 'x');
    await insert('sg_g', 3, 'y');
    await repo.add('x');
    await repo.add('x'); // idempotent

    const first = await repo.eraseBatch('x', 2);
    expect(first.done).to.equal(false);
    expect(first.erased).to.have.length(2);
    const second = await repo.eraseBatch('x', 2);
    expect(second.done).to.equal(false);
    const third = await repo.eraseBatch('x', 2);
    expect(third).to.deep.include({ done: true });
    expect(third.erased).to.have.length(0);
    expect(
      [...first.erased, ...second.erased].map((m) => [m.conversationId, m.seq]).sort(),
    ).to.deep.equal([
      ['sg_g', 1],
      ['sg_g', 2],
      ['si_r_x', 1],
      ['si_r_x', 3],
    ]);
    for (const m of [...first.erased, ...second.erased]) {
      expect(m).to.deep.include({ status: 3, senderId: 'x' });
      expect(m.content.length).to.equal(0);
    }
    expect((await rows('x')).map((r) => [r.status, r.content.length])).to.deep.equal([
      [3, 0],
      [3, 0],
      [3, 0],
      [3, 0],
    ]);
    expect((await rows('y')).map((r) => [r.status, r.content.toString()])).to.deep.equal([
      [1, 'text 3'],
      [1, 'text 2'],
    ]);
    // Done is remembered: a repeat erases nothing and reads no messages.
    expect(await repo.eraseBatch('x', 2)).to.deep.equal({ erased: [], done: true });
    // A user never deleted has nothing to erase.
    expect(await repo.eraseBatch('y', 2)).to.deep.equal({ erased: [], done: true });
  });

  it('answers the checks of one tick with one statement', async () => {
    await repo.add('gone');
    let statements = 0;
    const counting = {
      findDeleted: (ids: string[]) => {
        statements++;
        return repo.findDeleted(ids);
      },
    } as DeletedUsersRepository;
    const check = new DeletedUserCheck(counting);
    const asked = [['a', 'b'], ['gone', 'c'], ['d']];
    const answers = await Promise.all(asked.map((ids) => check.findDeleted(ids)));
    expect(statements).to.equal(1);
    expect(answers.map((found, i) => asked[i]!.filter((id) => found.has(id)))).to.deep.equal([
      [],
      ['gone'],
      [],
    ]);
  });
});
