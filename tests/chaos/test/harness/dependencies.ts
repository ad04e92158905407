import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { freePort, waitFor } from '@im-repo/testing';
import { protoPath } from 'grpc-health-check';
import { Proc } from './process';

const run = promisify(execFile);

/** True once something accepts TCP connections on the port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface HealthClient {
  Watch(req: { service: string }): NodeJS.EventEmitter & { cancel(): void };
  close(): void;
}
let HealthCtor: (new (address: string, creds: unknown) => HealthClient) | undefined;

/** An open grpc.health.v1 Watch on address; close() ends it. */
export function healthWatch(address: string): { close(): void } {
  if (!HealthCtor) {
    const pkg = loadPackageDefinition(loadSync(protoPath)) as unknown as {
      grpc: { health: { v1: { Health: typeof HealthCtor } } };
    };
    HealthCtor = pkg.grpc.health.v1.Health;
  }
  const client = new HealthCtor!(address, credentials.createInsecure());
  const stream = client.Watch({ service: '' });
  stream.on('error', () => undefined);
  stream.on('data', () => undefined);
  return {
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

/** A private MariaDB: its own datadir, socket, port and pid file under dir. */
export class MariaDb {
  proc: Proc | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(dir: string): Promise<MariaDb> {
    const db = new MariaDb(dir, await freePort());
    await mkdir(join(dir, 'data'), { recursive: true });
    await run(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--user=' + (process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root')),
      ],
      { timeout: 120_000 },
    );
    await db.start();
    return db;
  }

  /** Starts mariadbd on the same datadir and port (after a kill -9 this is crash recovery). */
  async start(): Promise<void> {
    this.proc = new Proc('mariadbd', 'mariadbd', [
      '--no-defaults',
      `--datadir=${join(this.dir, 'data')}`,
      `--socket=${join(this.dir, 'mysqld.sock')}`,
      `--pid-file=${join(this.dir, 'mysqld.pid')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      '--innodb-buffer-pool-size=128M',
      '--innodb-flush-log-at-trx-commit=1',
      '--max-connections=500',
      '--skip-log-bin',
      '--log-error=' + join(this.dir, 'error.log'),
    ]);
    await waitFor(() => this.ping(), { timeoutMs: 90_000, intervalMs: 200, what: 'MariaDB' });
  }

  async ping(): Promise<boolean> {
    if (!this.proc?.alive) throw new Error(`mariadbd exited: ${this.proc?.output}`);
    try {
      await run(
        'mariadb-admin',
        ['--no-defaults', '--protocol=tcp', '-h127.0.0.1', `-P${this.port}`, '-uroot', 'ping'],
        { timeout: 5000 },
      );
      return true;
    } catch {
      return false;
    }
  }
}

/** A private Redis without persistence: a restart starts it empty, as after a crash. */
export class Redis {
  proc: Proc | undefined;

  private constructor(readonly port: number) {}

  static async create(): Promise<Redis> {
    const redis = new Redis(await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.proc = new Proc('redis-server', 'redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await waitFor(async () => (await this.cli('PING')) === 'PONG', {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'Redis',
    });
  }

  async cli(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run('redis-cli', ['-p', String(this.port), ...args], {
        timeout: 5000,
      });
      return stdout.trim();
    } catch {
      return '';
    }
  }
}

/** A private NATS with JetStream, its store in dir. */
export class Nats {
  proc: Proc | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(dir: string): Promise<Nats> {
    const nats = new Nats(dir, await freePort());
    await mkdir(join(dir, 'jetstream'), { recursive: true });
    await nats.start();
    return nats;
  }

  async start(): Promise<void> {
    this.proc = new Proc('nats-server', 'nats-server', [
      '-js',
      '-sd',
      join(this.dir, 'jetstream'),
      '-a',
      '127.0.0.1',
      '-p',
      String(this.port),
    ]);
    await waitFor(() => portOpen(this.port), { timeoutMs: 30_000, intervalMs: 100, what: 'NATS' });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
}
