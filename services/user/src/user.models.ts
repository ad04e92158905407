import { Column, DataType, Model, Table } from '@im-repo/db';
import { outboxModel } from '@im-repo/outbox';

// The user service's tables, one model each: the one description of each table, which the
// schema check holds the migrations to. Hot SQL stays in user.repository.ts.

@Table({ tableName: 'users', modelName: 'users' })
export class UserModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  /** ascii_general_ci: unique and looked up case-insensitively. NULL once deleted (freed). */
  @Column({ type: DataType.STRING(32), allowNull: true })
  username!: string | null;

  @Column({ type: DataType.STRING(255), allowNull: false })
  password_hash!: string;

  @Column({ type: DataType.STRING(64), allowNull: false })
  nickname!: string;

  @Column({ type: DataType.STRING(1024), allowNull: false, defaultValue: '' })
  avatar_url!: string;

  @Column({ type: DataType.DATE(3), allowNull: false })
  created_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;

  /** Set by DeleteUser: the row stays as a tombstone so the user_id is never reused. */
  @Column({ type: DataType.DATE(3), allowNull: true })
  deleted_at!: Date | null;
}

export const USER_MODELS = [UserModel, outboxModel('user_outbox')];
