import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

export interface LocalRedisCluster {
  /** host:port seeds, for REDIS_CLUSTER_NODES / config.redis.cluster_nodes. */
  nodes: string[];
  /** Keys held by each master (to see that data really spread over the nodes). */
  dbsizes(): Promise<number[]>;
  /** Empties every node (the cluster is the test's own, so FLUSHALL is safe here). */
  flushall(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throwaway three-master Redis Cluster on free ports (redis-server and redis-cli from the
 * machine), so code that claims to work on Cluster is tested on one. Nothing is persisted.
 */
export async function startRedisCluster(): Promise<LocalRedisCluster> {
  // A free port (or its bus port, +10000) can be taken by another suite between the pick and
  // redis-server's bind; that node exits at once, and new ports are tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePorts();
    } catch (err) {
      if (!(err instanceof NodeExited) || attempt >= 5) throw err;
    }
  }
}

class NodeExited extends Error {}

async function startOnFreePorts(): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'im-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    let port = await freePort();
    // Cluster bus ports are port + 10000; keep both in range.
    while (port > 55000) port = await freePort();
    ports.push(port);
  }
  const children: ChildProcess[] = ports.map((port) =>
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
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A loaded machine (suites run in parallel) can take seconds to start three servers.
    for (const [n, port] of ports.entries()) {
      for (let i = 0; ; i++) {
        if (children[n]!.exitCode !== null)
          throw new NodeExited(`redis-server on port ${port} exited`);
        try {
          execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
          break;
        } catch (err) {
          if (i > 600) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    execFileSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: 'pipe' },
    );
    for (let i = 0; ; i++) {
      const info = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], {
        encoding: 'utf8',
      });
      if (info.includes('cluster_state:ok')) break;
      if (i > 200) throw new Error('redis cluster did not become ok');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    dbsizes: async () =>
      ports.map((p) =>
        Number(execFileSync('redis-cli', ['-p', String(p), 'dbsize'], { encoding: 'utf8' }).trim()),
      ),
    flushall: async () => {
      for (const p of ports)
        execFileSync('redis-cli', ['-p', String(p), 'flushall'], { stdio: 'pipe' });
    },
    stop,
  };
}
