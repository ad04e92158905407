export { databaseNow, Outbox } from './outbox';
export type { EnqueueOptions, OutboxOptions } from './outbox';
export { createOutboxTable, outboxTableDdl, outboxTableMigration } from './migration';
export { outboxModel } from './outbox.model';
export type {
  DeliveryContext,
  Enqueued,
  NewOutboxRow,
  OutboxHandler,
  OutboxLogger,
  OutboxRow,
  TopicOptions,
} from './outbox.types';
