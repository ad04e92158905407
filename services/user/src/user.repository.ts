import { execute, isUniqueViolation, select, violatedKey, type Sequelize } from '@im-repo/db';
import type { NewUser, UserChanges, UserRecord } from './user.types';

export type InsertResult = 'ok' | 'user_id_taken' | 'username_taken';

interface UserRow {
  user_id: string;
  username: string;
  nickname: string;
  avatar_url: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'user_id, username, nickname, avatar_url, created_at, updated_at';

function toRecord(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    username: row.username,
    nickname: row.nickname,
    avatarUrl: row.avatar_url,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The users table. Returns plain records; knows nothing of gRPC. */
export class UserRepository {
  constructor(private readonly db: Sequelize) {}

  async insert(user: NewUser): Promise<InsertResult> {
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
      );
      return 'ok';
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return violatedKey(err) === 'uk_users_username' ? 'username_taken' : 'user_id_taken';
    }
  }

  async findById(userId: string): Promise<UserRecord | null> {
    const [row] = await select<UserRow>(this.db, `SELECT ${COLUMNS} FROM users WHERE user_id = ?`, [
      userId,
    ]);
    return row ? toRecord(row) : null;
  }

  async findByIds(userIds: string[]): Promise<UserRecord[]> {
    if (userIds.length === 0) return [];
    const rows = await select<UserRow>(
      this.db,
      `SELECT ${COLUMNS} FROM users WHERE user_id IN (?)`,
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

  /** Applies the set fields (a missing user is left to the caller's next read). */
  async update(userId: string, changes: UserChanges, now: Date): Promise<void> {
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
    await execute(this.db, `UPDATE users SET ${sets.join(', ')} WHERE user_id = ?`, [
      ...params,
      userId,
    ]);
  }

  async updatePasswordHash(userId: string, passwordHash: string, now: Date): Promise<void> {
    await execute(this.db, 'UPDATE users SET password_hash = ?, updated_at = ? WHERE user_id = ?', [
      passwordHash,
      now,
      userId,
    ]);
  }

  private async findCredentials(
    column: 'username' | 'user_id',
    value: string,
  ): Promise<{ user: UserRecord; passwordHash: string } | null> {
    const [row] = await select<UserRow & { password_hash: string }>(
      this.db,
      `SELECT ${COLUMNS}, password_hash FROM users WHERE ${column} = ?`,
      [value],
    );
    return row ? { user: toRecord(row), passwordHash: row.password_hash } : null;
  }
}
