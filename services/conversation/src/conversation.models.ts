import { Column, DataType, Model, Table } from '@im-repo/db';
import { outboxModel } from '@im-repo/outbox';

// The conversation service's tables, one model each: the one description of each table, which
// the schema check holds the migrations to. Hot SQL stays in conversation.repository.ts.

/** One row per (user, conversation): the user's view of it. */
@Table({ tableName: 'user_conversations', modelName: 'user_conversations' })
export class UserConversationModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.TINYINT.UNSIGNED, allowNull: false })
  conversation_type!: number;

  @Column({ type: DataType.STRING(64), allowNull: false })
  peer_id!: string;

  @Column({ type: DataType.BIGINT, allowNull: false, defaultValue: 0 })
  read_seq!: number;

  @Column({ type: DataType.BOOLEAN, allowNull: false, defaultValue: false })
  pinned!: boolean;

  @Column({ type: DataType.BOOLEAN, allowNull: false, defaultValue: false })
  muted!: boolean;

  /** -1: never hidden; else hidden while the conversation's max_seq <= hidden_seq. */
  @Column({ type: DataType.BIGINT, allowNull: false, defaultValue: -1 })
  hidden_seq!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  created_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;

  /** A former group member's row: the group's max_seq at the removal. */
  @Column({ type: DataType.BIGINT, allowNull: true })
  frozen_seq!: number | null;

  @Column({ type: DataType.DATE(3), allowNull: true })
  frozen_at!: Date | null;

  /** The user's ClearHistory floor: no last message at or below it (0: never cleared). */
  @Column({ type: DataType.BIGINT, allowNull: false, defaultValue: 0 })
  cleared_seq!: number;
}

/** One row per conversation (not per member): its latest max_seq and send time; both only move forward. */
@Table({ tableName: 'conversation_activity', modelName: 'conversation_activity' })
export class ConversationActivityModel extends Model {
  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.BIGINT, allowNull: false })
  max_seq!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  last_sent_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;
}

/** Users the user service deleted (conversation.ForgetUser): nothing is written for them again. */
@Table({ tableName: 'conversation_deleted_users', modelName: 'conversation_deleted_users' })
export class ConversationDeletedUserModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  @Column({ type: DataType.DATE(3), allowNull: false })
  deleted_at!: Date;
}

export const CONVERSATION_MODELS = [
  UserConversationModel,
  ConversationActivityModel,
  ConversationDeletedUserModel,
  outboxModel('conversation_outbox'),
];
