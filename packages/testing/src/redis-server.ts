import { execFileSync, spawn } from 'node:child_process';
import { freePort } from './ports';

export interface LocalRedis {
  port: number;
  /** Runs a redis-cli command against it; returns its output. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * A throwaway standalone redis-server on a free port (nothing persisted), for tests that make
 * Redis misbehave (OOM, read-only, down) without touching the shared one.
 */
export async function startRedisServer(): Promise<LocalRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const cli = (...args: string[]) =>
    execFileSync('redis-cli', ['-p', String(port), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited`);
    try {
      if (cli('ping') === 'PONG') break;
    } catch (err) {
      if (i > 600) {
        await stop();
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, cli, stop };
}
