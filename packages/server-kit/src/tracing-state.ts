// Whether tracing runs, without loading the OpenTelemetry SDK: serve() flushes the last spans
// before the process exits, and services that never trace pay nothing for it.
let shutdown: (() => Promise<void>) | null = null;

export function setTracingShutdown(fn: () => Promise<void>): void {
  shutdown = fn;
}

/** Exports the spans still buffered and stops tracing; at most timeoutMs, never throws. */
export async function flushTracing(timeoutMs = 2000): Promise<void> {
  if (!shutdown) return;
  const done = shutdown().catch(() => undefined);
  shutdown = null;
  await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
}
