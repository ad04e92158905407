import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, SERVICES, type ServiceName } from '@im-repo/config';
import { deleteRedisPrefix, freePort, healthCheck, waitFor } from '@im-repo/testing';
import mysql from 'mysql2/promise';
import { findNodePidsIn, pidListeningOn, type Watched } from './proc-stats';

/** The checkout whose built services run (BENCH_ROOT: another checkout's build, for A/B runs). */
export const ROOT = process.env.BENCH_ROOT ?? join(__dirname, '..', '..');
/** Results and profiles always land in this checkout's bench/results. */
export const RESULTS = join(__dirname, '..', 'results');

export interface Stack {
  addresses: Record<ServiceName, string>;
  /** http://host:port/metrics of each service we started. */
  metricsUrls: Partial<Record<ServiceName, string>>;
  /** Service processes by name (empty when using running services we could not find). */
  servicePids: Partial<Record<ServiceName, number>>;
  dbName: string;
  redisPrefix: string;
  /** mariadbd and redis-server, charged to every scenario. */
  storePids: Watched[];
  /** Extra node flags every service process runs with (the ceiling server too). */
  nodeFlags: string[];
  /**
   * One more process of a service on its own port, with extra environment (events on, say),
   * stopped with the stack. Not available with useRunning.
   */
  startExtra(service: ServiceName, label: string, env: Record<string, string>): Promise<Extra>;
  stop(): Promise<void>;
}

export interface Extra {
  address: string;
  pid: number;
  metricsUrl: string;
  stop(): Promise<void>;
}

const stopChild = (c: ChildProcess) =>
  new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(null);
    c.once('exit', resolve);
    c.kill('SIGTERM');
  });

/** The node flags of a service's own start script (`node <flags> dist/main.js`): run as deployed. */
export function startFlags(service: ServiceName): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'services', service, 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const [node, ...rest] = pkg.scripts.start.split(' ');
  if (node !== 'node' || rest.at(-1) !== 'dist/main.js')
    throw new Error(`unexpected start script of ${service}`);
  return rest.slice(0, -1);
}

/** The MySQL server and the Redis server the services use (by their listening ports). */
function storePids(dbPort: number, redisPort: number): Watched[] {
  return [
    ...pidListeningOn(dbPort, 'mariadbd').map((pid) => ({ label: 'mariadbd', pid })),
    ...pidListeningOn(redisPort, 'redis-server', `:${redisPort}`).map((pid) => ({
      label: 'redis-server',
      pid,
    })),
  ];
}

const waitServing = (address: string) =>
  waitFor(async () => (await healthCheck(address, '', 1000)) === 'SERVING', {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: `${address} to be SERVING`,
  });

/**
 * Starts every service as its own process (node services/<s>/dist/main.js) on free ports,
 * against a fresh database and Redis key prefix, so each one's CPU and memory can be read from
 * /proc. With useRunning, talks to services already listening on the configured addresses.
 */
export async function startStack(options: {
  useRunning: boolean;
  /** Services to run under node --cpu-prof (profiles land in bench/results/profiles). */
  profile?: string[];
  /** Extra node flags for every service process (e.g. heap sizes to compare). */
  nodeFlags?: string[];
  log: (line: string) => void;
}): Promise<Stack> {
  // The services get CONFIG_FILE='' below, so the bench reads no file either: one database.
  const base = loadConfig('user', { file: '' });
  const stamp = Date.now();
  if (options.useRunning) {
    const addresses = Object.fromEntries(
      SERVICES.map((s) => [
        s,
        loadConfig(s, { file: '' }).peers[s].replace('0.0.0.0', '127.0.0.1'),
      ]),
    ) as Record<ServiceName, string>;
    const servicePids: Partial<Record<ServiceName, number>> = {};
    for (const s of SERVICES) {
      // Started by their start script: `node ... dist/main.js` in the service's folder.
      const [pid] = findNodePidsIn(join(ROOT, 'services', s), 'dist/main.js');
      if (pid) servicePids[s] = pid;
      else options.log(`no process found for ${s}: its CPU is not counted`);
    }
    return {
      addresses,
      metricsUrls: Object.fromEntries(
        SERVICES.map((s) => [
          s,
          `http://127.0.0.1:${loadConfig(s, { file: '' }).server.metrics_port}/metrics`,
        ]),
      ),
      servicePids,
      dbName: base.db.name,
      redisPrefix: base.redis.key_prefix,
      storePids: storePids(base.db.port, base.redis.port),
      nodeFlags: options.nodeFlags ?? [],
      startExtra: () => Promise.reject(new Error('not with --use-running')),
      stop: async () => undefined,
    };
  }

  const built = SERVICES.filter((s) => existsSync(join(ROOT, 'services', s, 'dist', 'main.js')));
  for (const s of SERVICES) {
    if (!built.includes(s))
      options.log(`services/${s} is not built (pnpm build): its scenarios will fail`);
  }
  const dbName = `im_bench_${stamp}`;
  const redisPrefix = `bench:${stamp}:`;
  const ports = Object.fromEntries(
    await Promise.all(
      SERVICES.map(
        async (s) => [s, { grpc: await freePort(), metrics: await freePort() }] as const,
      ),
    ),
  ) as Record<ServiceName, { grpc: number; metrics: number }>;
  const addresses = Object.fromEntries(
    SERVICES.map((s) => [s, `127.0.0.1:${ports[s].grpc}`]),
  ) as Record<ServiceName, string>;
  const peerEnv = Object.fromEntries(
    SERVICES.map((s) => [`${s.toUpperCase()}_SERVICE_ADDR`, addresses[s]]),
  );
  const children: ChildProcess[] = [];
  const servicePids: Partial<Record<ServiceName, number>> = {};
  const spawnService = (
    s: ServiceName,
    label: string,
    port: { grpc: number; metrics: number },
    env: Record<string, string>,
  ) => {
    const profiling = options.profile?.includes(label)
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${join(RESULTS, 'profiles')}`,
          `--cpu-prof-name=${label}-${stamp}.cpuprofile`,
        ]
      : [];
    const child = spawn(
      process.execPath,
      [
        ...startFlags(s),
        ...(options.nodeFlags ?? []),
        ...profiling,
        join(ROOT, 'services', s, 'dist', 'main.js'),
      ],
      {
        cwd: join(ROOT, 'services', s),
        env: {
          ...process.env,
          ...peerEnv,
          CONFIG_FILE: '',
          SERVER_HOST: '127.0.0.1',
          SERVER_PORT: String(port.grpc),
          METRICS_PORT: String(port.metrics),
          DB_NAME: dbName,
          REDIS_KEY_PREFIX: redisPrefix,
          LOG_LEVEL: 'warn',
          GROUP_MAX_MEMBERS: '6000',
          // Setup registers users; hashing cost is not what these scenarios measure.
          SCRYPT_COST: '1024',
          ...env,
        },
        // LOG_LEVEL is warn: what reaches stdout is worth seeing next to the figures.
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    for (const stream of [child.stdout!, child.stderr!])
      stream.on('data', (d) => options.log(`[${label}] ${String(d).trim()}`));
    children.push(child);
    return child;
  };
  for (const s of built) servicePids[s] = spawnService(s, s, ports[s], {}).pid!;
  await Promise.all(built.map((s) => waitServing(addresses[s])));
  options.log(
    `services up (database ${dbName}, ports ${built.map((s) => `${s} ${ports[s].grpc}`).join(', ')})`,
  );

  return {
    addresses,
    metricsUrls: Object.fromEntries(
      built.map((s) => [s, `http://127.0.0.1:${ports[s].metrics}/metrics`]),
    ),
    servicePids,
    dbName,
    redisPrefix,
    storePids: storePids(base.db.port, base.redis.port),
    nodeFlags: options.nodeFlags ?? [],
    async startExtra(service, label, env) {
      const port = { grpc: await freePort(), metrics: await freePort() };
      const child = spawnService(service, label, port, env);
      const address = `127.0.0.1:${port.grpc}`;
      await waitServing(address);
      return {
        address,
        pid: child.pid!,
        metricsUrl: `http://127.0.0.1:${port.metrics}/metrics`,
        stop: () => stopChild(child).then(() => undefined),
      };
    },
    async stop() {
      await Promise.all(children.map(stopChild));
      const conn = await mysql.createConnection({
        host: base.db.host,
        port: base.db.port,
        user: base.db.user,
        password: base.db.password,
      });
      await conn.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
      await conn.end();
      await deleteRedisPrefix(redisPrefix);
    },
  };
}
