import { Column, DataType, Model, Table } from '@im-repo/db';
import { outboxModel } from '@im-repo/outbox';

// The group service's tables, one model each: the one description of each table, which the
// schema check holds the migrations to. Hot SQL stays in group.repository.ts.

@Table({ tableName: 'groups', modelName: 'groups' })
export class GroupModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  group_id!: string;

  @Column({ type: DataType.STRING(64), allowNull: false })
  name!: string;

  @Column({ type: DataType.STRING(1024), allowNull: false, defaultValue: '' })
  avatar_url!: string;

  @Column({ type: DataType.STRING(512), allowNull: false, defaultValue: '' })
  intro!: string;

  @Column({ type: DataType.STRING(2048), allowNull: false, defaultValue: '' })
  notice!: string;

  @Column({ type: DataType.STRING(64), allowNull: false })
  owner_id!: string;

  @Column({ type: DataType.INTEGER.UNSIGNED, allowNull: false })
  member_count!: number;

  /** 1 active, 2 dismissed. */
  @Column({ type: DataType.TINYINT.UNSIGNED, allowNull: false })
  status!: number;

  @Column({ type: DataType.BOOLEAN, allowNull: false, defaultValue: false })
  all_muted!: boolean;

  @Column({ type: DataType.DATE(3), allowNull: false })
  created_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: false })
  updated_at!: Date;
}

@Table({ tableName: 'group_members', modelName: 'group_members' })
export class GroupMemberModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  group_id!: string;

  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  /** 1 member, 2 admin, 3 owner. */
  @Column({ type: DataType.TINYINT.UNSIGNED, allowNull: false })
  role!: number;

  @Column({ type: DataType.DATE(3), allowNull: false })
  joined_at!: Date;

  @Column({ type: DataType.DATE(3), allowNull: true })
  muted_until!: Date | null;
}

/** Users the user service deleted (group.ForgetUser): nobody adds them to a group again. */
@Table({ tableName: 'group_deleted_users', modelName: 'group_deleted_users' })
export class GroupDeletedUserModel extends Model {
  @Column({ type: DataType.STRING(64), primaryKey: true })
  user_id!: string;

  @Column({ type: DataType.DATE(3), allowNull: false })
  deleted_at!: Date;
}

export const GROUP_MODELS = [
  GroupModel,
  GroupMemberModel,
  GroupDeletedUserModel,
  outboxModel('group_outbox'),
];
