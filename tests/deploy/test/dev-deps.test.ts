import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@im-repo/testing';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { repoPath, ROOT } from './support/repo';

// scripts/dev-deps.mjs, the first step of `make run`, branch by branch: local binaries, Docker
// compose (a recording stand-in for the docker CLI), install instructions. Every instance it
// starts here is on free ports under a temp dir: the machine's 3306/6379/4222 are never touched.
interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const SCRIPT = repoPath('scripts', 'dev-deps.mjs');

interface Ports {
  db: number;
  redis: number;
  nats: number;
}

function run(
  command: 'up' | 'stop',
  dataDir: string,
  ports: Ports,
  env: Record<string, string> = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, command], {
      cwd: ROOT,
      env: {
        ...process.env,
        CONFIG_FILE: '',
        REDIS_CLUSTER_NODES: '',
        DB_HOST: '127.0.0.1',
        DB_PORT: String(ports.db),
        DB_PASSWORD: '',
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(ports.redis),
        EVENTS_NATS_URL: `nats://127.0.0.1:${ports.nats}`,
        DEV_DEPS_DIR: dataDir,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The first bytes a server sends after `hello` (or unprompted), or '' when nothing answers. */
function firstBytes(port: number, hello?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(5000, () => finish(''));
    socket.on('error', () => finish(''));
    socket.on('connect', () => hello && socket.write(hello));
    socket.on('data', (d: Buffer) => finish(d.toString('latin1')));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const pidOf = (dataDir: string, name: string) =>
  Number(readFileSync(join(dataDir, `${name}.pid`), 'utf8').trim());

async function freePorts(): Promise<Ports> {
  return { db: await freePort(), redis: await freePort(), nats: await freePort() };
}

/** A directory holding only the named commands, linked to the machine's own. */
function pathWith(dir: string, commands: Record<string, string>): string {
  for (const [name, target] of Object.entries(commands)) symlinkSync(target, join(dir, name));
  return dir;
}

/** A stand-in docker CLI that records each call (args and the compose port variables). */
function fakeDocker(dir: string, engineAnswers: boolean): string {
  const file = join(dir, 'docker');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `echo "$* MYSQL_HOST_PORT=$MYSQL_HOST_PORT REDIS_HOST_PORT=$REDIS_HOST_PORT NATS_HOST_PORT=$NATS_HOST_PORT" >> "${dir}/calls"`,
      `if [ "$1" = info ]; then exit ${engineAnswers ? 0 : 1}; fi`,
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return dir;
}

const calls = (dir: string) => {
  try {
    return readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
  } catch {
    return [];
  }
};

describe('make run: dependencies (scripts/dev-deps.mjs)', function () {
  this.timeout(180_000);
  const dirs: string[] = [];
  const tempDir = (label: string) => {
    const dir = mkdtempSync(join(tmpdir(), `im-dev-deps-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const started: Array<{ dataDir: string; ports: Ports }> = [];

  after(async () => {
    for (const { dataDir, ports } of started) await run('stop', dataDir, ports);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('starts MariaDB, Redis and NATS from the binaries on the PATH under its data dir; a second run finds them; stop ends them', async () => {
    const ports = await freePorts();
    const dataDir = tempDir('local');
    started.push({ dataDir, ports });

    const first = await run('up', dataDir, ports);
    expect(first.code, first.stdout + first.stderr).to.equal(0);
    expect(first.stdout).to.match(/starting MySQL on 127\.0\.0\.1:\d+ \(.*mariadbd/);
    expect(first.stdout).to.match(/starting Redis on .*redis-server/);
    expect(first.stdout).to.match(/starting NATS on .*nats-server/);

    // What the services need: root over TCP without a password, a Redis, a NATS.
    const conn = await mysql.createConnection({
      host: '127.0.0.1',
      port: ports.db,
      user: 'root',
      password: '',
    });
    try {
      const [rows] = await conn.query('SELECT 1 + 1 AS two');
      expect(rows).to.deep.equal([{ two: 2 }]);
    } finally {
      await conn.end();
    }
    expect(await firstBytes(ports.redis, 'PING\r\n')).to.match(/^\+PONG/);
    const info = await firstBytes(ports.nats);
    expect(info).to.match(/^INFO /);
    expect(info).to.contain('"jetstream":true');

    const pids = ['mysql', 'redis', 'nats'].map((name) => pidOf(dataDir, name));
    const second = await run('up', dataDir, ports);
    expect(second.code, second.stdout + second.stderr).to.equal(0);
    expect(second.stdout).to.not.contain('starting');
    expect(second.stdout.match(/answers on 127\.0\.0\.1/g)).to.have.length(3);

    const stop = await run('stop', dataDir, ports);
    expect(stop.code).to.equal(0);
    expect(pids.filter(alive)).to.deep.equal([]);
    expect(await firstBytes(ports.redis, 'PING\r\n')).to.equal('');
  });

  it('with EVENTS_NATS_URL set empty, NATS is neither checked nor started', async () => {
    const ports = await freePorts();
    const dataDir = tempDir('no-events');
    const bin = pathWith(tempDir('bin'), { 'redis-server': '/usr/bin/redis-server' });
    started.push({ dataDir, ports });
    // No MySQL binaries and no docker on this PATH: MySQL ends in the install instructions.
    const result = await run('up', dataDir, ports, { PATH: bin, EVENTS_NATS_URL: '' });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/starting Redis/);
    expect(result.stdout + result.stderr).to.not.match(/NATS|nats/);
    expect(result.stderr).to.contain('sudo apt-get install -y mariadb-server\n');
    expect(result.stderr).to.contain('brew install mariadb\n');
  });

  it('uses docker compose for what it cannot start itself, on the configured ports', async () => {
    const ports = await freePorts();
    const dataDir = tempDir('compose');
    const bin = fakeDocker(
      pathWith(tempDir('bin'), { 'redis-server': '/usr/bin/redis-server' }),
      true,
    );
    started.push({ dataDir, ports });
    const result = await run('up', dataDir, ports, { PATH: bin, DEV_DEPS_WAIT_MS: '1500' });
    const recorded = calls(bin);
    // Redis from its binary; MySQL and NATS from compose, published on the configured ports.
    expect(result.stdout).to.match(/starting Redis/);
    expect(recorded.some((c) => c.startsWith('info '))).to.equal(true);
    const up = recorded.find((c) => c.startsWith('compose up'));
    expect(up).to.equal(
      `compose up -d mysql nats MYSQL_HOST_PORT=${ports.db} REDIS_HOST_PORT= NATS_HOST_PORT=${ports.nats}`,
    );
    // The stand-in started nothing, so the script must not claim success.
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/MySQL \(compose service mysql\) still does not answer/);
  });

  it('prints the install commands and exits non-zero with neither binaries nor an engine', async () => {
    const ports = await freePorts();
    const bin = fakeDocker(tempDir('bin'), false);
    const result = await run('up', tempDir('none'), ports, { PATH: bin });
    expect(result.code).to.equal(1);
    expect(calls(bin).some((c) => c.startsWith('compose'))).to.equal(false);
    expect(result.stderr).to.contain(
      'sudo apt-get install -y mariadb-server redis-server nats-server\n',
    );
    expect(result.stderr).to.contain('brew install mariadb redis nats-server\n');
    expect(result.stderr).to.contain('docker compose up -d mysql redis nats');
  });

  it('checks but never starts a dependency configured on another host', async () => {
    const ports = await freePorts();
    const result = await run('up', tempDir('remote'), ports, {
      DB_HOST: '192.0.2.1',
      DB_CONNECT_TIMEOUT_MS: '1000',
    });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/MySQL at 192\.0\.2\.1:\d+ does not answer \(not a local/);
    expect(result.stdout).to.not.contain('starting');
  });
});
