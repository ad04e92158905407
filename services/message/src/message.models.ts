import { Column, DataType, Model, Table } from '@im-repo/db';
import { outboxModel } from '@im-repo/outbox';

// The message service's tables, one model each: the one description of each table, which the
// schema check holds the migrations to. The send and read paths keep their SQL in
// message.repository.ts (they are the hot paths).

@Table({ tableName: 'messages', modelName: 'messages' })
export class MessageModel extends Model {
  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.BIGINT, primaryKey: true })
  seq!: number;

  @Column({ type: DataType.STRING(64), allowNull: false })
  server_msg_id!: string;

  @Column({ type: 'VARBINARY(256)', allowNull: false })
  client_msg_id!: Buffer;

  @Column({ type: DataType.TINYINT, allowNull: false })
  conversation_type!: number;

  @Column({ type: DataType.STRING(64), allowNull: false })
  sender_id!: string;

  @Column({ type: DataType.STRING(64), allowNull: false })
  recipient_id!: string;

  @Column({ type: DataType.SMALLINT, allowNull: false })
  content_type!: number;

  @Column({ type: DataType.BLOB('medium'), allowNull: false })
  content!: Buffer;

  /** MessageStatus. */
  @Column({ type: DataType.TINYINT, allowNull: false })
  status!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  sent_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: true })
  recalled_at!: Date | null;
}

/** Each conversation's max_seq: the row every send locks to take its seqs. */
@Table({ tableName: 'conversation_seqs', modelName: 'conversation_seqs' })
export class ConversationSeqModel extends Model {
  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.BIGINT, allowNull: false })
  max_seq!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;
}

/** Users the user service deleted (message.ForgetUser), and their erasure's progress. */
@Table({ tableName: 'message_deleted_users', modelName: 'message_deleted_users' })
export class MessageDeletedUserModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  @Column({ type: DataType.DATE(3), allowNull: false })
  deleted_at!: Date;

  /** The erasure's cursor: the last client_msg_id erased. */
  @Column({ type: 'VARBINARY(256)', allowNull: true })
  erase_after!: Buffer | null;

  @Column({ type: DataType.DATE(3), allowNull: true })
  erased_at!: Date | null;
}

/** ClearHistory: one user's floor in one conversation; only rises. */
@Table({ tableName: 'message_floors', modelName: 'message_floors' })
export class MessageFloorModel extends Model {
  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  @Column({ type: DataType.BIGINT, allowNull: false })
  cleared_seq!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;
}

/** Retention's watermark: every seq up to expired_seq is expired, none above it. */
@Table({ tableName: 'message_expiry', modelName: 'message_expiry' })
export class MessageExpiryModel extends Model {
  @Column({ type: DataType.STRING(140), primaryKey: true })
  conversation_id!: string;

  @Column({ type: DataType.BIGINT, allowNull: false })
  expired_seq!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;
}

export const MESSAGE_MODELS = [
  MessageModel,
  ConversationSeqModel,
  MessageDeletedUserModel,
  outboxModel('message_outbox'),
  MessageFloorModel,
  MessageExpiryModel,
];
