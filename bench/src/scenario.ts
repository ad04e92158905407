import type { ServiceName } from '@im-repo/config';
import type { Op } from './load';
import type { Watched } from './proc-stats';
import type { Stack } from './stack';
import type { Fixtures } from './fixtures';

export interface BenchContext {
  stack: Stack;
  fixtures: Fixtures;
  channels: number;
  /** Rounds of a scenario that alternates sides (send-events: off/on pairs). */
  rounds: number;
  log(line: string): void;
}

export interface Prepared {
  op: Op;
  /** Processes besides the scenario's services (the ceiling server). */
  extraPids?: Watched[];
  /** Checks after the run (e.g. seqs gapless); returns a problem or undefined. */
  verify?(): Promise<string | undefined>;
  cleanup?(): Promise<void>;
}

export interface Result {
  scenario: string;
  what: string;
  concurrency: number;
  unit: string;
  calls: number;
  errors: number;
  units: number;
  seconds: number;
  /** units per second */
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  /** Server CPU microseconds per unit (services + mariadbd + redis-server). */
  cpuUsPerUnit: number;
  cpuSeconds: Record<string, number>;
  /** The load generator's own CPU per unit (setup excluded): must stay below the servers'. */
  clientCpuUsPerUnit?: number;
  /** 1-minute load average of the machine when the measured window started and ended. */
  loadAverage?: [number, number];
  peakRssMb: Record<string, number>;
  verified?: string;
  firstError?: string;
  marks: Mark[];
  /** Extra figures (sub-runs, ratios). */
  notes?: Record<string, number | string>;
}

export interface Mark {
  target: string;
  ok: boolean;
  actual: string;
}

export interface Scenario {
  name: string;
  what: string;
  concurrency: number;
  unit: 'calls' | 'messages';
  /** Services whose processes are charged; stores always are. */
  services: ServiceName[];
  /** Scenarios whose results the targets compare against (run first). */
  needs?: string[];
  prepare(ctx: BenchContext): Promise<Prepared>;
  targets(result: Result, others: Map<string, Result>): Mark[];
  /** Runs the scenario itself instead of the default single load phase (sub-runs). */
  run?(ctx: BenchContext, measure: (prepared: Prepared) => Promise<Result>): Promise<Result>;
}

/** Processes that are not services: their CPU gets its own column, their RSS no target. */
export const STORES = ['mariadbd', 'redis-server', 'nats-server'];

export const mark = (target: string, ok: boolean, actual: string): Mark => ({ target, ok, actual });
export const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
