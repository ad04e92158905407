// pnpm bench [scenario...] [--use-running] [--duration=S] [--warmup=S] [--channels=N]
//            [--rounds=N] [--no-baselines] [--profile=service,...] [--node-flags="--flag ..."]
//            [--client=frames|h2|grpc-js]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Fixtures } from './fixtures';
import { runClosedLoop } from './load';
import { ProcessMeter, type Watched } from './proc-stats';
import { STORES, type BenchContext, type Prepared, type Result, type Scenario } from './scenario';
import { useLoadClient, type LoadClientKind } from './clients';
import { SCENARIOS } from './scenarios';
import { startStack, RESULTS } from './stack';
import { printTable } from './report';

function parseArgs(argv: string[]) {
  const flags = new Map<string, string>();
  const names: string[] = [];
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (m) flags.set(m[1]!, m[2] ?? 'true');
    else names.push(arg);
  }
  return {
    names,
    useRunning: flags.has('use-running'),
    durationMs: Number(flags.get('duration') ?? 10) * 1000,
    warmupMs: Number(flags.get('warmup') ?? 2) * 1000,
    channels: Number(flags.get('channels') ?? 8),
    rounds: Math.max(1, Number(flags.get('rounds') ?? 3)),
    baselines: !flags.has('no-baselines'),
    profile: flags.get('profile')?.split(',') ?? [],
    nodeFlags: flags.get('node-flags')?.split(' ').filter(Boolean) ?? [],
    client: (flags.get('client') ?? 'frames') as LoadClientKind,
  };
}

/** The named scenarios plus the ones their targets compare against, in run order. */
function select(names: string[], withBaselines: boolean): Scenario[] {
  if (names.length === 0) return SCENARIOS;
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length)
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  const wanted = new Set(names);
  if (withBaselines)
    for (const s of SCENARIOS) if (wanted.has(s.name)) for (const n of s.needs ?? []) wanted.add(n);
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const scenarios = select(args.names, args.baselines);
  useLoadClient(args.client);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const stack = await startStack({
    useRunning: args.useRunning,
    profile: args.profile,
    nodeFlags: args.nodeFlags,
    log,
  });
  const fixtures = new Fixtures(stack);
  const ctx: BenchContext = { stack, fixtures, channels: args.channels, rounds: args.rounds, log };
  const results = new Map<string, Result>();
  try {
    for (const scenario of scenarios) {
      log(`-- ${scenario.name}: ${scenario.what}`);
      const measure = async (prepared: Prepared): Promise<Result> => {
        const watched: Watched[] = [
          ...scenario.services.flatMap((s) =>
            stack.servicePids[s] ? [{ label: s, pid: stack.servicePids[s]! }] : [],
          ),
          ...(prepared.extraPids ?? []),
          ...stack.storePids,
        ];
        const meter = new ProcessMeter(watched);
        let metered: ReturnType<ProcessMeter['stop']> | undefined;
        const load1: number[] = [];
        let clientCpu = process.cpuUsage();
        // CPU and memory are read over the measured window only, not the warm-up.
        const load = await runClosedLoop(prepared.op, {
          concurrency: scenario.concurrency,
          durationMs: args.durationMs,
          warmupMs: args.warmupMs,
          onMeasure: (phase) => {
            load1.push(loadavg()[0]!);
            if (phase === 'start') {
              meter.start();
              clientCpu = process.cpuUsage();
            } else {
              metered = meter.stop();
              clientCpu = process.cpuUsage(clientCpu);
            }
          },
        });
        const { cpuSeconds, peakRssMb } = metered!;
        const totalCpu = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
        const unitsPerSecond = load.units / load.seconds;
        const result: Result = {
          scenario: scenario.name,
          what: scenario.what,
          concurrency: scenario.concurrency,
          unit: scenario.unit,
          calls: load.calls,
          errors: load.errors,
          units: load.units,
          seconds: load.seconds,
          throughput: unitsPerSecond,
          p50: load.p50,
          p95: load.p95,
          p99: load.p99,
          cpuUsPerUnit: (totalCpu / load.units) * 1e6,
          cpuSeconds,
          loadAverage: [load1[0]!, load1[1]!],
          clientCpuUsPerUnit: (clientCpu.user + clientCpu.system) / load.units,
          peakRssMb,
          firstError: load.firstError,
          marks: [],
        };
        if (prepared.verify) result.verified = await prepared.verify();
        await prepared.cleanup?.();
        return result;
      };
      let result: Result;
      try {
        result = scenario.run
          ? await scenario.run(ctx, measure)
          : await measure(await scenario.prepare(ctx));
      } catch (err) {
        log(`   failed: ${(err as Error).message}`);
        continue;
      }
      result.marks = scenario.targets(result, results);
      const servicesRss = Object.entries(result.peakRssMb).filter(
        ([label]) => !STORES.includes(label),
      );
      for (const [label, mb] of servicesRss) {
        if (label !== 'ceiling-server' && mb > 200)
          result.marks.push({
            target: `${label} RSS < 200 MB`,
            ok: false,
            actual: `${Math.round(mb)} MB`,
          });
      }
      results.set(scenario.name, result);
      log(
        `   ${Math.round(result.throughput)} ${scenario.unit}/s, p99 ${result.p99.toFixed(1)} ms, ${Math.round(result.cpuUsPerUnit)} us CPU/${scenario.unit === 'messages' ? 'msg' : 'op'}${result.errors ? `, ${result.errors} errors (${result.firstError})` : ''}`,
      );
    }
  } finally {
    fixtures.close();
    await stack.stop();
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    client: args.client,
  };
  const dir = RESULTS;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { machine, durationMs: args.durationMs, results: [...results.values()] },
      null,
      2,
    ),
  );
  process.stdout.write(printTable([...results.values()], machine));
  process.stdout.write(`\nJSON: ${file}\n`);
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
