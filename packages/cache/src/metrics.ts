import { Counter, type Registry } from 'prom-client';

export type CacheResult = 'hit' | 'miss' | 'negative_hit' | 'error';

/** cache_requests_total{cache,result}: one per lookup; `error` means Redis failed and MySQL served. */
export function cacheCounter(registry: Registry | undefined): Counter<'cache' | 'result'> {
  const name = 'cache_requests_total';
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'cache' | 'result'>;
  return new Counter({
    name,
    help: 'Cache lookups by outcome; error = Redis failed and the source of truth answered',
    labelNames: ['cache', 'result'],
    registers: registry ? [registry] : [],
  });
}
