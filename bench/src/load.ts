/**
 * A closed-loop load generator: `concurrency` workers, each issuing its next call as soon as the
 * previous one returns. Latencies go into log-spaced buckets (1% resolution), so memory stays
 * constant however many calls are made.
 */
export type Op = (worker: number, iteration: number) => Promise<number | void>;

class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  total = 0;

  record(ms: number): void {
    const bucket = Math.round(Math.log(Math.max(ms, 0.001)) / Math.log(1.01));
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.total++;
  }

  percentile(p: number): number {
    if (this.total === 0) return 0;
    const target = Math.ceil(this.total * p);
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket)!;
      if (seen >= target) return 1.01 ** bucket;
    }
    return 0;
  }
}

export interface LoadResult {
  /** Completed calls (successes and errors). */
  calls: number;
  errors: number;
  /** Work units done (a call may do more than one: messages pulled). */
  units: number;
  seconds: number;
  p50: number;
  p95: number;
  p99: number;
  firstError?: string;
}

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** Called when measuring starts and stops (after the warm-up), e.g. to read CPU counters. */
  onMeasure?: (phase: 'start' | 'stop') => void;
}

export async function runClosedLoop(
  op: Op,
  { concurrency, durationMs, warmupMs, onMeasure }: LoadOptions,
): Promise<LoadResult> {
  const histogram = new LatencyHistogram();
  let calls = 0;
  let errors = 0;
  let units = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stop = false;

  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      try {
        const n = await op(w, i);
        if (measuring) {
          histogram.record(performance.now() - t0);
          calls++;
          units += typeof n === 'number' ? n : 1;
        }
      } catch (err) {
        if (measuring) {
          // A failed call took its time too (a deadline, say): leaving it out would flatter p99.
          histogram.record(performance.now() - t0);
          calls++;
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }
  };

  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  onMeasure?.('start');
  const measureStart = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  onMeasure?.('stop');
  const seconds = (performance.now() - measureStart) / 1000;
  stop = true;
  await Promise.all(workers);
  return {
    calls,
    errors,
    units,
    seconds,
    p50: histogram.percentile(0.5),
    p95: histogram.percentile(0.95),
    p99: histogram.percentile(0.99),
    firstError,
  };
}
