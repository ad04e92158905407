#!/usr/bin/env node
// The dependencies of `make run`: MySQL, Redis and (unless EVENTS_NATS_URL is set empty) NATS
// with JetStream, at the addresses the services will use (packages/config: defaults < CONFIG_FILE
// < env). Whatever does not answer is started, in this order of preference:
//   1. project-local instances under .data/ from the binaries on the PATH (mariadb-install-db +
//      mariadbd, or MySQL's mysqld; redis-server; nats-server -js), left running between runs;
//   2. `docker compose up -d <mysql|redis|nats>` when a Docker engine answers;
//   3. otherwise the install commands for Debian/Ubuntu and macOS are printed and it exits 1.
// A dependency configured on another host is only checked, never started.
//
//   node scripts/dev-deps.mjs          check, start what is missing
//   node scripts/dev-deps.mjs stop     stop the project-local instances this script started
//
// DEV_DEPS_DIR moves .data/ (tests), DEV_DEPS_WAIT_MS bounds the wait for a started dependency.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.env.DEV_DEPS_DIR || join(root, '.data'));
const waitMs = Number(process.env.DEV_DEPS_WAIT_MS) || 120_000;
const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

const say = (line) => process.stdout.write(`[deps] ${line}\n`);
const sleep = (ms) => delay(ms);

/** The addresses the services will use, read by the services' own config loader. */
function targets() {
  const configDist = join(root, 'packages', 'config', 'dist', 'index.js');
  let db = { host: process.env.DB_HOST || '127.0.0.1', port: Number(process.env.DB_PORT) || 3306 };
  let redis = {
    host: process.env.REDIS_HOST || '127.0.0.1',
    port: Number(process.env.REDIS_PORT) || 6379,
  };
  if (existsSync(configDist)) {
    const config = createRequire(import.meta.url)(configDist).loadConfig('user');
    db = config.db;
    redis = config.redis;
  }
  const list = [{ name: 'mysql', what: 'MySQL', host: db.host, port: db.port, probe: probeMysql }];
  if (!process.env.REDIS_CLUSTER_NODES) {
    list.push({
      name: 'redis',
      what: 'Redis',
      host: redis.host,
      port: redis.port,
      probe: probeRedis,
    });
  }
  // Unset means on (make run's default); set empty means events are off.
  const natsUrl = process.env.EVENTS_NATS_URL ?? DEFAULT_NATS_URL;
  if (natsUrl.trim() !== '') {
    const first = new URL(natsUrl.split(',')[0].trim());
    list.push({
      name: 'nats',
      what: 'NATS',
      host: first.hostname.replace(/^\[|\]$/g, ''),
      port: Number(first.port) || 4222,
      probe: probeNats,
    });
  }
  return list;
}

/** Connects, optionally writes, and resolves true once the server's first bytes match. */
function probe(host, port, hello, answered) {
  return new Promise((done) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const finish = (ok) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(2000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => hello && socket.write(hello));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      if (answered(buffer)) finish(true);
    });
    socket.on('close', () => finish(false));
  });
}
// MySQL speaks first: a handshake packet (protocol 10) after the 4-byte header.
const probeMysql = (h, p) => probe(h, p, null, (b) => b.length > 5 && b.charCodeAt(4) === 10);
// A password-protected Redis answers NOAUTH: it is up, the services bring the password.
const probeRedis = (h, p) => probe(h, p, 'PING\r\n', (b) => /^(\+PONG|-NOAUTH)/.test(b));
const probeNats = (h, p) => probe(h, p, null, (b) => b.startsWith('INFO '));

const isLocal = (host) => ['127.0.0.1', 'localhost', '::1', '0.0.0.0', ''].includes(host);

function which(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** How each dependency starts from local binaries, or null when they are not on the PATH. */
const local = {
  mysql(dep) {
    const mariadbd = which('mariadbd');
    const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
    const mysqld = which('mysqld');
    const dir = join(dataDir, 'mysql');
    const common = [
      '--no-defaults',
      `--datadir=${dir}`,
      // Root over TCP without a password, as the services' defaults expect.
      ...(asRoot ? ['--user=root'] : []),
    ];
    if (mariadbd && installDb) {
      return {
        init: existsSync(join(dir, 'mysql'))
          ? null
          : [installDb, [...common, '--auth-root-authentication-method=normal', '--skip-test-db']],
        run: [mariadbd, [...common, ...serverFlags(dep)]],
      };
    }
    // MySQL proper (e.g. Homebrew's mysql): --initialize-insecure leaves root without a password.
    if (mysqld && !/MariaDB/i.test(spawnSync(mysqld, ['--version']).stdout?.toString() ?? '')) {
      return {
        init: existsSync(join(dir, 'mysql'))
          ? null
          : [mysqld, [...common, '--initialize-insecure']],
        run: [mysqld, [...common, ...serverFlags(dep), '--mysqlx=OFF']],
      };
    }
    return null;
  },
  redis(dep) {
    const server = which('redis-server');
    if (!server) return null;
    const dir = join(dataDir, 'redis');
    return {
      run: [
        server,
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(dep.port),
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--save',
          '',
        ],
      ],
    };
  },
  nats(dep) {
    const server = which('nats-server');
    if (!server) return null;
    const dir = join(dataDir, 'nats');
    return { run: [server, ['-js', '-a', '127.0.0.1', '-p', String(dep.port), '-sd', dir]] };
  },
};

function serverFlags(dep) {
  return [
    `--port=${dep.port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dataDir, 'mysql.sock')}`,
    `--pid-file=${join(dataDir, 'mysql.server.pid')}`,
    '--skip-log-bin',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
  ];
}

async function waitUntilUp(dep, child) {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (await dep.probe(dep.host, dep.port)) return true;
    if (child && child.exitCode !== null) return false;
    await sleep(250);
  }
  return false;
}

async function startLocal(dep, plan) {
  const dir = join(dataDir, dep.name);
  mkdirSync(dir, { recursive: true });
  const logFile = join(dataDir, `${dep.name}.log`);
  if (plan.init) {
    say(`initialising ${dep.what} data in ${dir}`);
    const [cmd, args] = plan.init;
    const result = spawnSync(cmd, args, {
      stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')],
    });
    if (result.status !== 0) {
      say(`${cmd} failed (exit ${result.status}); see ${logFile}`);
      return false;
    }
  }
  const [cmd, args] = plan.run;
  const out = openSync(logFile, 'a');
  // Detached: the instance outlives `make run` (stop it with `make deps-stop`).
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(join(dataDir, `${dep.name}.pid`), `${child.pid}\n`);
  say(`starting ${dep.what} on 127.0.0.1:${dep.port} (${cmd}, pid ${child.pid}, log ${logFile})`);
  if (await waitUntilUp(dep, child)) return true;
  say(`${dep.what} did not answer on port ${dep.port}; see ${logFile}`);
  return false;
}

function dockerEngineAnswers() {
  if (!which('docker')) return false;
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    stdio: 'ignore',
    timeout: 15_000,
  });
  return info.status === 0;
}

async function startWithCompose(deps) {
  const names = deps.map((d) => d.name);
  const env = { ...process.env };
  for (const dep of deps) env[`${dep.name.toUpperCase()}_HOST_PORT`] = String(dep.port);
  const compose =
    spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0
      ? ['docker', ['compose']]
      : which('docker-compose')
        ? ['docker-compose', []]
        : null;
  if (!compose) {
    say('a Docker engine answers but neither `docker compose` nor docker-compose is installed');
    return false;
  }
  const [cmd, pre] = compose;
  say(`starting ${names.join(', ')} with ${cmd} ${[...pre, 'up', '-d', ...names].join(' ')}`);
  const up = spawnSync(cmd, [...pre, 'up', '-d', ...names], { cwd: root, env, stdio: 'inherit' });
  if (up.status !== 0) {
    say(`${cmd} up failed (exit ${up.status})`);
    return false;
  }
  let ok = true;
  for (const dep of deps) {
    if (!(await waitUntilUp(dep, null))) {
      say(`${dep.what} (compose service ${dep.name}) still does not answer on port ${dep.port}`);
      ok = false;
    }
  }
  return ok;
}

function printInstallHelp(deps) {
  const apt = { mysql: 'mariadb-server', redis: 'redis-server', nats: 'nats-server' };
  const brew = { mysql: 'mariadb', redis: 'redis', nats: 'nats-server' };
  const missing = deps.map((d) => `${d.what} (${d.host}:${d.port})`).join(', ');
  process.stderr.write(
    [
      `[deps] not running, and neither local binaries nor a Docker engine to start them: ${missing}`,
      '',
      'Install them, then run `make run` again (it starts them under .data/ by itself):',
      '',
      '  Debian / Ubuntu:',
      '    sudo apt-get update',
      `    sudo apt-get install -y ${deps.map((d) => apt[d.name]).join(' ')}`,
      '',
      '  macOS (Homebrew):',
      `    brew install ${deps.map((d) => brew[d.name]).join(' ')}`,
      '',
      '  or Docker: install Docker Engine / Docker Desktop and start it; `make run` then runs',
      `    docker compose up -d ${deps.map((d) => d.name).join(' ')}`,
      '',
      ...(deps.some((d) => d.name === 'nats')
        ? ['Events can be turned off with EVENTS_NATS_URL= (empty); then NATS is not needed.', '']
        : []),
    ].join('\n'),
  );
}

async function up() {
  const deps = targets();
  const missing = [];
  for (const dep of deps) {
    if (await dep.probe(dep.host, dep.port)) {
      say(`${dep.what} answers on ${dep.host}:${dep.port}`);
    } else if (!isLocal(dep.host)) {
      say(
        `${dep.what} at ${dep.host}:${dep.port} does not answer (not a local address: not started)`,
      );
      return 1;
    } else {
      missing.push(dep);
    }
  }
  if (missing.length === 0) return 0;
  mkdirSync(dataDir, { recursive: true });

  const rest = [];
  for (const dep of missing) {
    const plan = local[dep.name](dep);
    if (!plan) {
      rest.push(dep);
    } else if (!(await startLocal(dep, plan))) {
      return 1;
    }
  }
  if (rest.length === 0) return 0;
  if (dockerEngineAnswers()) return (await startWithCompose(rest)) ? 0 : 1;
  printInstallHelp(rest);
  return 1;
}

/** The command line of a live process, or null (so a reused pid is never signalled). */
function commandOf(pid) {
  const ps = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout.trim() : null;
}

async function stop() {
  const binaries = { nats: 'nats-server', redis: 'redis-server', mysql: 'mysqld|mariadbd' };
  let stopped = 0;
  for (const name of ['nats', 'redis', 'mysql']) {
    const pidFile = join(dataDir, `${name}.pid`);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    rmSync(pidFile, { force: true });
    const command = commandOf(pid);
    if (!command || !new RegExp(binaries[name]).test(command)) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + waitMs;
    while (commandOf(pid) && Date.now() < deadline) await sleep(200);
    say(`stopped ${name} (pid ${pid})`);
    stopped++;
  }
  if (stopped === 0) say('no project-local instance was running');
  return 0;
}

const command = process.argv[2] ?? 'up';
if (command === 'up') {
  process.exitCode = await up();
} else if (command === 'stop') {
  process.exitCode = await stop();
} else {
  process.stderr.write('usage: node scripts/dev-deps.mjs [up|stop]\n');
  process.exitCode = 2;
}
