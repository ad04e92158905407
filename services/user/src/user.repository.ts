import {
  execute,
  isUniqueViolation,
  select,
  violatedKey,
  withTransaction,
  type Database,
  type Transaction,
} from '@im-repo/db';
import { databaseNow } from '@im-repo/outbox';
import { UserModel } from './user.models';
import type { NewUser, UserChanges, UserRecord } from './user.types';

export type InsertResult = 'ok' | 'user_id_taken' | 'username_taken';

interface UserRow {
  user_id: string;
  /** NULL only on a deleted user's tombstone, which no read returns. */
  username: string | null;
  nickname: string;
  avatar_url: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'user_id, username, nickname, avatar_url, created_at, updated_at';
/** Deleted users' rows stay as tombstones (their ids are never reused); reads skip them. */
const LIVE = 'deleted_at IS NULL';

function toRecord(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    username: row.username ?? '',
    nickname: row.nickname,
    avatarUrl: row.avatar_url,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The users table. Returns plain records; knows nothing of gRPC. Reads and writes that share a
 * transaction with the outbox, and the cached reads, are SQL on the driver; the password paths
 * (one row, next to a bcrypt hash that costs a thousand times more) go through the model.
 */
export class UserRepository {
  constructor(private readonly db: Database) {}

  private get users() {
    return this.db.getRepository(UserModel);
  }

  /**
   * Inserts the user; `inTransaction` (the change's event) runs in the same transaction, only
   * when the insert succeeded, with the database clock.
   */
  async insert(
    user: NewUser,
    inTransaction?: (t: Transaction, at: Date) => Promise<unknown>,
  ): Promise<InsertResult> {
    if (!inTransaction) return this.insertIn(user);
    try {
      return await withTransaction(this.db, async (t) => {
        await this.insertIn(user, t, true);
        await inTransaction(t, await databaseNow(this.db, t));
        return 'ok' as const;
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return violatedKey(err) === 'uk_users_username' ? 'username_taken' : 'user_id_taken';
    }
  }

  private async insertIn(user: NewUser, t?: Transaction, rethrow = false): Promise<InsertResult> {
    try {
      await execute(
        this.db,
        `INSERT INTO users (user_id, username, password_hash, nickname, avatar_url, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          user.userId,
          user.username,
          user.passwordHash,
          user.nickname,
          user.avatarUrl,
          user.createdAt,
          user.updatedAt,
        ],
        t,
      );
      return 'ok';
    } catch (err) {
      if (rethrow || !isUniqueViolation(err)) throw err;
      return violatedKey(err) === 'uk_users_username' ? 'username_taken' : 'user_id_taken';
    }
  }

  async findById(userId: string): Promise<UserRecord | null> {
    const [row] = await select<UserRow>(
      this.db,
      `SELECT ${COLUMNS} FROM users WHERE user_id = ? AND ${LIVE}`,
      [userId],
    );
    return row ? toRecord(row) : null;
  }

  async findByIds(userIds: string[]): Promise<UserRecord[]> {
    if (userIds.length === 0) return [];
    const rows = await select<UserRow>(
      this.db,
      `SELECT ${COLUMNS} FROM users WHERE user_id IN (?) AND ${LIVE}`,
      [userIds],
    );
    return rows.map(toRecord);
  }

  /** Case-insensitive (the column's collation), for login. */
  async findCredentialsByUsername(username: string) {
    return this.findCredentials('username', username);
  }

  async findCredentialsById(userId: string) {
    return this.findCredentials('user_id', userId);
  }

  /**
   * Applies the set fields. With `inTransaction` (the change's event), it runs in the same
   * transaction with the updated user (not called for a missing user).
   */
  async update(
    userId: string,
    changes: UserChanges,
    now: Date,
    inTransaction?: (t: Transaction, user: UserRecord, at: Date) => Promise<unknown>,
  ): Promise<void> {
    const sets: string[] = ['updated_at = ?'];
    const params: unknown[] = [now];
    if (changes.nickname !== undefined) {
      sets.push('nickname = ?');
      params.push(changes.nickname);
    }
    if (changes.avatarUrl !== undefined) {
      sets.push('avatar_url = ?');
      params.push(changes.avatarUrl);
    }
    const sql = `UPDATE users SET ${sets.join(', ')} WHERE user_id = ? AND ${LIVE}`;
    if (!inTransaction) {
      await execute(this.db, sql, [...params, userId]);
      return;
    }
    await withTransaction(this.db, async (t) => {
      await execute(this.db, sql, [...params, userId], t);
      const [row] = await select<UserRow & { db_now: Date }>(
        this.db,
        `SELECT ${COLUMNS}, UTC_TIMESTAMP(6) AS db_now FROM users WHERE user_id = ? AND ${LIVE}`,
        [userId],
        t,
      );
      if (row) await inTransaction(t, toRecord(row), row.db_now);
    });
  }

  async updatePasswordHash(userId: string, passwordHash: string, now: Date): Promise<void> {
    await this.users.update(
      { password_hash: passwordHash, updated_at: now },
      { where: { user_id: userId, deleted_at: null } },
    );
  }

  /**
   * Turns the user into a tombstone: the username is freed, the password and profile erased,
   * the row kept so the user_id is never registered again. `inTransaction` (the deletion's
   * outbox rows) runs in the same transaction with the database clock. False when there was no
   * live user.
   */
  async markDeleted(
    userId: string,
    inTransaction: (t: Transaction, at: Date) => Promise<unknown>,
  ): Promise<boolean> {
    return withTransaction(this.db, async (t) => {
      const [row] = await select<{ db_now: Date }>(
        this.db,
        `SELECT UTC_TIMESTAMP(6) AS db_now FROM users WHERE user_id = ? AND ${LIVE} FOR UPDATE`,
        [userId],
        t,
      );
      if (!row) return false;
      await execute(
        this.db,
        `UPDATE users SET username = NULL, password_hash = '', nickname = '', avatar_url = '',
           deleted_at = ?, updated_at = ? WHERE user_id = ?`,
        [row.db_now, row.db_now, userId],
        t,
      );
      await inTransaction(t, row.db_now);
      return true;
    });
  }

  private async findCredentials(
    column: 'username' | 'user_id',
    value: string,
  ): Promise<{ user: UserRecord; passwordHash: string } | null> {
    const row = await this.users.findOne({
      where: { [column]: value, deleted_at: null },
      raw: true,
    });
    return row ? { user: toRecord(row), passwordHash: row.password_hash } : null;
  }
}
