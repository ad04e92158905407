import { execute, select, type Sequelize, type Transaction } from '@im-repo/db';

/** Rows removed per statement when a deleted user's list is dropped. */
const DELETE_CHUNK = 1000;

/** The conversation_deleted_users table and the dropping of a deleted user's rows. No gRPC types. */
export class DeletedUsersRepository {
  constructor(private readonly db: Sequelize) {}

  /**
   * Records the deletion, then drops the user's rows. The tombstone commits first: from then
   * on a RecordMessages batch either committed before it (its rows are dropped here) or sees
   * it (see deletedAmong), so no row of the user survives.
   */
  async forget(userId: string): Promise<void> {
    await execute(
      this.db,
      'INSERT IGNORE INTO conversation_deleted_users (user_id, deleted_at) VALUES (?, UTC_TIMESTAMP(3))',
      [userId],
    );
    for (;;) {
      const { affectedRows } = await execute(
        this.db,
        'DELETE FROM user_conversations WHERE user_id = ? LIMIT ?',
        [userId, DELETE_CHUNK],
      );
      if (affectedRows < DELETE_CHUNK) return;
    }
  }

  /**
   * The deleted users among userIds. In a writer's transaction it reads with a shared lock, so
   * a deletion committing meanwhile waits for the writer (and then drops what it wrote) or is
   * seen by it: rows for a deleted user are never left behind.
   */
  async deletedAmong(userIds: string[], t?: Transaction): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await select<{ user_id: string }>(
      this.db,
      `SELECT user_id FROM conversation_deleted_users WHERE user_id IN (?)${t ? ' LOCK IN SHARE MODE' : ''}`,
      [[...new Set(userIds)]],
      t,
    );
    return new Set(rows.map((r) => r.user_id));
  }
}
