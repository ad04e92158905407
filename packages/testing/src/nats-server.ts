import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

export interface LocalNatsServer {
  url: string;
  /** Stops the server (SIGTERM); its JetStream store stays for the next start. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** Stops it and deletes the store. */
  destroy(): Promise<void>;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * A nats-server of the test's own (JetStream on, store in a temp dir, a free port), for tests
 * that stop and restart NATS: the machine's shared one is never touched.
 */
export async function startNatsServer(): Promise<LocalNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'im-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('nats-server', ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while (!(await answers(port))) {
      if (Date.now() > deadline) throw new Error(`nats-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
