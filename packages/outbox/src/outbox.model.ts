import { Column, DataType, Model, Table, type ModelCtor } from '@im-repo/db';

/** The columns of one outbox table (outboxTableDdl), as a model for the schema check. */
export function outboxModel(table: string): ModelCtor {
  @Table({ tableName: table, modelName: table })
  class OutboxRow extends Model {
    @Column({ type: DataType.BIGINT.UNSIGNED, primaryKey: true, autoIncrement: true })
    declare id: number;

    @Column({ type: DataType.STRING(64), allowNull: false })
    topic!: string;

    @Column({ type: 'VARBINARY(255)', allowNull: false })
    ordering_key!: Buffer;

    @Column({ type: DataType.BLOB('medium'), allowNull: false })
    payload!: Buffer;

    @Column({ type: DataType.INTEGER, allowNull: false, defaultValue: 0 })
    attempts!: number;

    @Column({ type: DataType.DATE(3), allowNull: false })
    next_attempt_at!: Date;

    @Column({ type: DataType.DATE(3), allowNull: false })
    created_at!: Date;
  }
  return OutboxRow;
}
