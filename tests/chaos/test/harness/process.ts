import { spawn, type ChildProcess } from 'node:child_process';

/** Every process this run started and has not seen exit: the only ones it may kill. */
const live = new Set<Proc>();

// Whatever happens to the runner, nothing it started outlives it.
process.on('exit', () => {
  for (const p of live) p.signal('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const p of live) p.signal('SIGKILL');
    process.exit(130);
  });
}

const startedAt = Date.now();
/** A progress line with the seconds since the run began (what a CI log reader follows). */
export function step(text: string): void {
  process.stdout.write(`      [${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${text}\n`);
}

/** One child process, known by its pid; keeps the tail of its output for failure reports. */
export class Proc {
  readonly exited: Promise<number | null>;
  private tail = '';
  private readonly child: ChildProcess;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) {
    this.child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    const keep = (d: Buffer) => {
      this.tail = (this.tail + d.toString()).slice(-8000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this);
        this.exitCode = code ?? (signal ? null : 0);
        resolve(this.exitCode);
      });
      this.child.on('error', (err) => {
        this.tail += `\n${err.message}`;
        live.delete(this);
        this.exitCode = null;
        resolve(null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  get output(): string {
    return this.tail;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGKILL, and wait until the kernel has reaped it. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** A signal, then SIGKILL if it has not exited within the bound. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', boundMs = 15_000): Promise<void> {
    this.signal(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), boundMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
