import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, healthCheck, waitFor } from '@im-repo/testing';
import { MariaDb, Nats, Redis, healthWatch, portOpen } from './dependencies';
import { EVENTS_PREFIX, EVENTS_STREAM } from './events';
import { Proc, killAll } from './process';
import { FaultyProxy } from './proxy';

export type ServiceName = 'user' | 'group' | 'message' | 'conversation' | 'presence';

const ROOT = resolve(__dirname, '../../../..');
const REPLICAS: Record<ServiceName, number> = {
  user: 1,
  group: 1,
  message: 2,
  conversation: 2,
  presence: 1,
};
const ENV_OF_PEER: Record<ServiceName, string> = {
  user: 'USER_SERVICE_ADDR',
  group: 'GROUP_SERVICE_ADDR',
  message: 'MESSAGE_SERVICE_ADDR',
  conversation: 'CONVERSATION_SERVICE_ADDR',
  presence: 'PRESENCE_SERVICE_ADDR',
};
/** Long enough that a drain which waits for it is plainly told apart from one that does not. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export class Replica {
  proc: Proc | undefined;
  constructor(
    readonly service: ServiceName,
    readonly index: number,
    readonly port: number,
    readonly metricsPort: number,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get name(): string {
    return `${this.service}-${this.index}`;
  }

  /** Starts the built service (node dist/main.js, its start flags) and waits until SERVING. */
  async start(): Promise<void> {
    this.proc = new Proc(
      this.name,
      process.execPath,
      ['--max-old-space-size=128', join(ROOT, 'services', this.service, 'dist', 'main.js')],
      { env: this.env, cwd: join(ROOT, 'services', this.service) },
    );
    const proc = this.proc;
    await waitFor(
      async () => {
        if (!proc.alive) throw new Error(`${this.name} exited:\n${proc.output}`);
        return (await healthCheck(this.address, '', 2000).catch(() => '')) === 'SERVING';
      },
      { timeoutMs: 90_000, intervalMs: 200, what: `${this.name} to serve` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${proc.output}`);
    });
    // As a load balancer does: a health Watch held open on the replica for its whole life.
    const watch = healthWatch(this.address);
    void proc.exited.then(() => watch.close());
  }

  async metricsBound(): Promise<boolean> {
    return portOpen(this.metricsPort);
  }
}

/**
 * Private MariaDB, Redis and NATS on free ports in a temp dir, and the five services as
 * processes: two message replicas (the first reaches MariaDB through a FaultyProxy) and two
 * conversation replicas; peers reach replicas round-robin through comma-list addresses.
 */
export class Cluster {
  readonly replicas = {} as Record<ServiceName, Replica[]>;

  private constructor(
    readonly dir: string,
    readonly db: MariaDb,
    readonly redis: Redis,
    readonly nats: Nats,
    readonly proxy: FaultyProxy,
  ) {}

  static async start(extraEnv: NodeJS.ProcessEnv = {}): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'im-chaos-'));
    try {
      const [db, redis, nats] = await Promise.all([
        MariaDb.create(join(dir, 'mariadb')),
        Redis.create(),
        Nats.create(join(dir, 'nats')),
      ]);
      const proxy = await FaultyProxy.start(db.port);
      const cluster = new Cluster(dir, db, redis, nats, proxy);
      await cluster.startServices(extraEnv);
      return cluster;
    } catch (err) {
      await killAll();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async startServices(extraEnv: NodeJS.ProcessEnv): Promise<void> {
    const ports = {} as Record<ServiceName, { port: number; metrics: number }[]>;
    for (const s of Object.keys(REPLICAS) as ServiceName[]) {
      ports[s] = [];
      for (let i = 0; i < REPLICAS[s]; i++) {
        ports[s].push({ port: await freePort(), metrics: await freePort() });
      }
    }
    const peers = Object.fromEntries(
      (Object.keys(REPLICAS) as ServiceName[]).map((s) => [
        ENV_OF_PEER[s],
        ports[s].map((p) => `127.0.0.1:${p.port}`).join(','),
      ]),
    );
    for (const s of Object.keys(REPLICAS) as ServiceName[]) {
      this.replicas[s] = ports[s].map((p, i) => {
        const viaProxy = s === 'message' && i === 0;
        const env: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          SERVER_HOST: '127.0.0.1',
          SERVER_PORT: String(p.port),
          METRICS_PORT: String(p.metrics),
          SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
          HEALTH_CHECK_INTERVAL_MS: '500',
          DB_HOST: '127.0.0.1',
          DB_PORT: String(viaProxy ? this.proxy.port : this.db.port),
          DB_USER: 'root',
          DB_PASSWORD: '',
          DB_NAME: 'im_chaos',
          REDIS_HOST: '127.0.0.1',
          REDIS_PORT: String(this.redis.port),
          LOG_LEVEL: 'warn',
          SCRYPT_COST: '1024',
          PEER_TIMEOUT_MS: '5000',
          // Change events on, to the run's private NATS.
          EVENTS_NATS_URL: this.nats.url,
          EVENTS_STREAM,
          EVENTS_SUBJECT_PREFIX: EVENTS_PREFIX,
          ...peers,
          ...extraEnv,
        };
        return new Replica(s, i, p.port, p.metrics, env);
      });
    }
    // Migrations first, one service at a time, so replicas do not queue on the migration lock.
    for (const s of ['user', 'group', 'conversation', 'message'] as ServiceName[]) {
      await this.replicas[s][0]!.start();
    }
    await Promise.all(
      (Object.keys(REPLICAS) as ServiceName[])
        .flatMap((s) => this.replicas[s])
        .filter((r) => !r.proc)
        .map((r) => r.start()),
    );
  }

  address(service: ServiceName): string {
    const list = this.replicas[service].map((r) => r.address);
    return list.length > 1 ? list.join(',') : list[0]!;
  }

  async stop(): Promise<void> {
    await this.proxy.close();
    await killAll();
    await rm(this.dir, { recursive: true, force: true });
  }
}
