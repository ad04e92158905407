import { Counter, Gauge, type Registry } from 'prom-client';
import type { OutboxStore } from './outbox.store';

interface TableStats {
  table: string;
  stats: { rows: number; oldestAgeSeconds: number } | null;
}

export type DeliveryCounter = Counter<'table' | 'topic' | 'path' | 'result'>;

// The outboxes whose gauges each registry reports (tests run several services in a process).
const tables = new WeakMap<Registry, Set<OutboxStore>>();

function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * outbox_backlog_rows and outbox_oldest_age_seconds, read from the table at scrape time (a
 * COUNT and a MIN on the primary key's rows; cheap while the outbox is near empty, as it is
 * when healthy), and outbox_deliveries_total by topic, path and result, in rows.
 */
export function outboxMetrics(registry: Registry | undefined, store: OutboxStore): DeliveryCounter {
  if (!registry) {
    return new Counter({
      name: 'outbox_deliveries_total',
      help: 'unregistered',
      labelNames: ['table', 'topic', 'path', 'result'],
      registers: [],
    });
  }
  let stores = tables.get(registry);
  if (!stores) {
    stores = new Set();
    tables.set(registry, stores);
  }
  stores.add(store);
  const collectFrom = stores;
  // Both gauges of one scrape share one read of each table.
  let last: { at: number; read: Promise<TableStats[]> } | undefined;
  const stats = () => {
    if (!last || Date.now() - last.at > 1000) {
      last = {
        at: Date.now(),
        read: Promise.all(
          [...collectFrom].map(async (s) => ({
            table: s.table,
            stats: await s.stats().catch(() => null),
          })),
        ),
      };
    }
    return last.read;
  };
  once(
    registry,
    'outbox_backlog_rows',
    () =>
      new Gauge({
        name: 'outbox_backlog_rows',
        help: 'Undelivered rows in the outbox table (read at scrape time)',
        labelNames: ['table'],
        registers: [registry],
        async collect() {
          for (const { table, stats: s } of await stats()) if (s) this.set({ table }, s.rows);
        },
      }),
  );
  once(
    registry,
    'outbox_oldest_age_seconds',
    () =>
      new Gauge({
        name: 'outbox_oldest_age_seconds',
        help: 'Age of the oldest undelivered row in the outbox table, 0 when empty (read at scrape time)',
        labelNames: ['table'],
        registers: [registry],
        async collect() {
          for (const { table, stats: s } of await stats()) {
            if (s) this.set({ table }, s.oldestAgeSeconds);
          }
        },
      }),
  );
  return once(
    registry,
    'outbox_deliveries_total',
    () =>
      new Counter({
        name: 'outbox_deliveries_total',
        help: 'Outbox rows handed to their topic handler, by path (inline, outbox) and result (ok, failed, waiting)',
        labelNames: ['table', 'topic', 'path', 'result'],
        registers: [registry],
      }),
  );
}

/** Forgets a closed outbox's table (its gauges stop being reported). */
export function dropOutboxMetrics(registry: Registry | undefined, store: OutboxStore): void {
  if (registry) tables.get(registry)?.delete(store);
}
