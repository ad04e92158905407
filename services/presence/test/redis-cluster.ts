import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@im-repo/testing';

const run = promisify(execFile);

export const hasRedisServer = () =>
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** A port whose cluster bus port (+10000) is free too. */
async function clusterPort(taken: number[]): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 9000);
    if (taken.includes(port)) continue;
    if ((await isFree(port)) && (await isFree(port + 10000))) return port;
  }
}

/**
 * A throwaway Redis Cluster of `masters` nodes (no replicas, no persistence) started from the
 * local redis-server binary, for tests that must prove cluster behaviour. Stop it with stop():
 * it ends exactly the processes it started.
 */
export async function startRedisCluster(masters = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'presence-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort(ports);
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '3000',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--loglevel',
            'warning',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    const cli = (port: number, ...args: string[]) =>
      run('redis-cli', ['-p', String(port), ...args]).then((r) => r.stdout);
    await waitFor(
      async () =>
        (await Promise.all(ports.map((p) => cli(p, 'ping')))).every((r) => r.trim() === 'PONG'),
      { timeoutMs: 10_000, what: 'cluster nodes to start' },
    );
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitFor(
      async () =>
        (await Promise.all(ports.map((p) => cli(p, 'cluster', 'info')))).every((r) =>
          r.includes('cluster_state:ok'),
        ),
      { timeoutMs: 15_000, what: 'the cluster to be ok' },
    );
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`),
      /** Keys held by each node. */
      dbsizes: () => Promise.all(ports.map(async (p) => Number(await cli(p, 'dbsize')))),
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
