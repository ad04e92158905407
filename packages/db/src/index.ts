export { createSequelize, ensureDatabase, pingDatabase } from './connection';
export type { DatabaseOptions, DbConfig } from './connection';
export {
  isDbUnavailable,
  isDeadlock,
  isUniqueViolation,
  translateDbError,
  violatedKey,
} from './errors';
export { runMigrateCli } from './migrate-cli';
export { openDatabase } from './open';
export type { OpenDatabaseOptions } from './open';
export { createMigrator, migrateDown, migrateUp, migrationStatus } from './migrations';
export type { Migration, MigrationContext, MigrationStatus } from './migrations';
export { execute, select, sqlTime, statementCount } from './sql';
export type { Params, WriteResult } from './sql';
export { withTransaction } from './transaction';
export type { Transaction, TransactionOptions } from './transaction';
export { QueryTypes, Sequelize } from 'sequelize';
