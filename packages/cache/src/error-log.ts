/** Structured warnings (winston's Logger fits). */
export interface WarnLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

/**
 * The onError of a service's caches: at most one warning per op and second, with how many were
 * suppressed. During a Redis outage every call falls back to MySQL, and cache_requests_total
 * already counts each one; a line per call would flood the log.
 */
export function cacheErrorLog(
  logger: WarnLogger,
  message = 'redis failed, served without it',
  intervalMs = 1000,
): (err: unknown, op: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (err, op) => {
    const now = Date.now();
    const seen = last.get(op);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    logger.warn(message, {
      op,
      error: err instanceof Error ? err.message : String(err),
      suppressed: seen?.suppressed ?? 0,
    });
    last.set(op, { at: now, suppressed: 0 });
  };
}
