// Decorator metadata for the models (sequelize-typescript reads it); loaded before any model.
import 'reflect-metadata';

export { createSequelize, Database, pingDatabase, withDriverConnection } from './connection';
export type { DatabaseOptions, DbConfig } from './connection';
export { isDbUnavailable, isUniqueViolation, translateDbError, violatedKey } from './errors';
export { runMigrateCli } from './migrate-cli';
export { openDatabase } from './open';
export type { OpenDatabaseOptions } from './open';
export { migrateDown, migrateUp, migrationStatus } from './migrations';
export type { Migration, MigrationContext, MigrationStatus } from './migrations';
export { sqlTime } from './driver';
export type { Params, Transaction } from './driver';
export { execute, select, statementCount } from './sql';
export type { WriteResult } from './sql';
export { withTransaction } from './transaction';
export type { TransactionOptions } from './transaction';
export { Sequelize } from 'sequelize';
// Table models: sequelize-typescript classes, bound per instance (repository mode).
export { Column, DataType, Model, Table } from 'sequelize-typescript';
export type { ModelCtor } from 'sequelize-typescript';
export { checkSchema, describeProblems, normalizeColumnType } from './schema-check';
export type { SchemaProblem } from './schema-check';
