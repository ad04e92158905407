import { Counter, Histogram, type Registry } from 'prom-client';

export interface MessageMetrics {
  batchSize: Histogram;
  seqAllocation: Histogram;
  duplicates: Counter;
  records: Counter<'path' | 'result'>;
}

function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** The send path's series, registered on the service's registry (served on /metrics). */
export function createMessageMetrics(registry: Registry): MessageMetrics {
  return {
    batchSize: once(
      registry,
      'message_send_batch_size',
      () =>
        new Histogram({
          name: 'message_send_batch_size',
          help: 'Sends committed together in one group-commit transaction',
          buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
          registers: [registry],
        }),
    ),
    seqAllocation: once(
      registry,
      'message_seq_allocation_seconds',
      () =>
        new Histogram({
          name: 'message_seq_allocation_seconds',
          help: 'Time to reserve the seqs of one batch on conversation_seqs (row-lock wait included)',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
          registers: [registry],
        }),
    ),
    duplicates: once(
      registry,
      'message_send_duplicates_total',
      () =>
        new Counter({
          name: 'message_send_duplicates_total',
          help: 'Sends answered with an earlier message of the same (sender_id, client_msg_id)',
          registers: [registry],
        }),
    ),
    records: once(
      registry,
      'message_conversation_records_total',
      () =>
        new Counter({
          name: 'message_conversation_records_total',
          help: 'Records sent to ConversationService.RecordMessages, by path (inline, outbox) and result',
          labelNames: ['path', 'result'],
          registers: [registry],
        }),
    ),
  };
}
