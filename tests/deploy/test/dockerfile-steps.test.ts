import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_PORTS, loadConfig } from '@im-repo/config';
import { createTestEnvironment, freePort, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { buildWithoutDocker, type BuiltImage } from './support/docker-build';
import { parseDockerfile } from './support/dockerfile';
import { readRepoFile, repoPath, ROOT } from './support/repo';

// The issue asks for the Dockerfile's build steps run by hand, since no Docker engine runs here:
// the test interprets infra/Dockerfile itself (support/docker-build.ts), so it follows the file.
// The user service stands for all five: it is the one that is complete.
const SERVICE = 'user';
const PORTS = DEFAULT_PORTS[SERVICE];

function globalInstall(pkg: string, version: string, shimDir: string) {
  if (pkg === 'pnpm') {
    const host = execFileSync('pnpm', ['--version'], { encoding: 'utf8' }).trim();
    expect(host, 'the pnpm on this machine is the one the Dockerfile installs').to.equal(version);
  } else if (pkg === 'turbo') {
    const pkgJson = JSON.parse(readRepoFile('node_modules', 'turbo', 'package.json')) as {
      version: string;
    };
    expect(pkgJson.version, 'the repo turbo is the one the Dockerfile installs').to.equal(version);
    symlinkSync(repoPath('node_modules', '.bin', 'turbo'), join(shimDir, 'turbo'));
  } else {
    throw new Error(`the Dockerfile installs ${pkg} globally; teach this test where to find it`);
  }
}

/** The image's USER as uid/gid for spawn, when this test may switch users (root). */
function imageUser(image: BuiltImage): { uid?: number; gid?: number } {
  if (!image.user || process.getuid?.() !== 0) return {};
  const [uid, gid] = image.user.split(':').map(Number);
  return { uid, gid: gid ?? uid };
}

interface Running {
  child: ChildProcess;
  exit: Promise<number | null>;
  output(): string;
}

const passthrough = (names: string[]) =>
  Object.fromEntries(
    names.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n]!]),
  );

describe('infra/Dockerfile steps, run without Docker (SERVICE=user)', function () {
  this.timeout(600_000);
  let workDir: string;
  let image: BuiltImage;
  let app: string;
  const envs: TestEnvironment[] = [];
  const children: ChildProcess[] = [];

  before(async function () {
    workDir = mkdtempSync(join(tmpdir(), 'im-docker-'));
    // The service runs as the image's unprivileged user: it must be able to reach its files.
    chmodSync(workDir, 0o755);
    image = await buildWithoutDocker(parseDockerfile(readRepoFile('infra', 'Dockerfile')), {
      context: ROOT,
      workDir,
      buildArgs: { SERVICE },
      globalInstall,
    });
    app = join(image.root, image.workdir);
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const env of envs) await env.teardown();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  async function freshEnv(): Promise<TestEnvironment> {
    const env = await createTestEnvironment('deploy-image');
    envs.push(env);
    return env;
  }

  function containerEnv(env: TestEnvironment, extra: Record<string, string>) {
    // What docker-compose.yml gives the container, pointed at this machine's MySQL and Redis.
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...image.env,
      ...passthrough(['DB_HOST', 'DB_PORT', 'DB_USER', 'DB_PASSWORD']),
      ...passthrough(['REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD']),
      DB_NAME: env.dbName,
      REDIS_KEY_PREFIX: env.redisPrefix,
      SERVER_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...extra,
    };
  }

  function start(env: Record<string, string>): Running {
    const [cmd, ...args] = image.cmd;
    const child = spawn(cmd!, args, { cwd: app, env, ...imageUser(image) });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exit, output: () => output };
  }

  /** The image's migrate step (`node dist/migrate.js up`), as a deployment's job runs it. */
  function migrate(env: Record<string, string>): Promise<number | null> {
    const child = spawn(process.execPath, ['dist/migrate.js', 'up'], {
      cwd: app,
      env,
      stdio: 'ignore',
      ...imageUser(image),
    });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** The image's HEALTHCHECK command, as Docker runs it: in the workdir, as the image user. */
  function healthcheck(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    const [cmd, ...args] = image.healthcheck;
    return new Promise((resolve) => {
      const child = spawn(cmd!, args, { cwd: app, env, ...imageUser(image) });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  }

  async function untilServing(service: Running, env: Record<string, string>) {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (service.child.exitCode !== null) {
        throw new Error(`the service exited ${service.child.exitCode}:\n${service.output()}`);
      }
      const result = await healthcheck(env);
      if (result.code === 0) return result.out;
      if (Date.now() > deadline) {
        throw new Error(`not SERVING after 90 s: ${result.out}\n${service.output()}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async function stop(service: Running): Promise<number | null> {
    service.child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
    const code = await Promise.race([service.exit, timeout]);
    if (code === 'timeout') throw new Error(`no exit 30 s after SIGTERM:\n${service.output()}`);
    return code;
  }

  async function tables(dbName: string): Promise<string[]> {
    const db = loadConfig(SERVICE, { file: '' }).db;
    const conn = await mysql.createConnection({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
    });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?',
        [dbName],
      );
      return rows.map((r) => String(r.name)).sort();
    } finally {
      await conn.end();
    }
  }

  it('prunes to the service and the workspace packages it depends on', () => {
    const pruned = join(image.stageRoots.pruner!, 'repo', 'out');
    expect(readdirSync(join(pruned, 'json', 'services'))).to.deep.equal([SERVICE]);
    const packages = readdirSync(join(pruned, 'full', 'packages'));
    expect(packages).to.include.members(['config', 'db', 'cache', 'server-kit', 'proto', 'errors']);
    expect(existsSync(join(pruned, 'pnpm-lock.yaml'))).to.equal(true);
    // The build generated the contract code itself: the context carried no generated files.
    const builder = join(image.stageRoots.builder!, 'repo');
    expect(
      existsSync(join(builder, 'packages', 'proto', 'src', 'gen', 'im', 'user', 'v1')),
    ).to.equal(true);
    expect(existsSync(join(builder, 'services', SERVICE, 'dist', 'main.js'))).to.equal(true);
  });

  it('ships the built service with production dependencies only', () => {
    expect(existsSync(join(app, 'dist', 'main.js'))).to.equal(true);
    expect(existsSync(join(app, 'healthcheck.mjs'))).to.equal(true);
    for (const pkg of ['server-kit', 'config', 'db', 'cache', 'proto', 'errors']) {
      expect(
        existsSync(join(app, 'node_modules', '@im-repo', pkg, 'dist', 'index.js')),
        pkg,
      ).to.equal(true);
    }
    // Store entries are `<name>@<version>...` (sequelize-typescript@ is not typescript@).
    const store = readdirSync(join(app, 'node_modules', '.pnpm'));
    for (const dev of ['typescript@', 'mocha@', 'turbo@', 'eslint@', '@im-repo+testing']) {
      expect(
        store.filter((entry) => entry.startsWith(dev)),
        `${dev} is a dev dependency`,
      ).to.deep.equal([]);
    }
    // Links must be relative: absolute ones would point into the builder stage, not the image.
    const links = ['', '@im-repo', '@grpc'].flatMap((dir) =>
      readdirSync(join(app, 'node_modules', dir), { withFileTypes: true })
        .filter((e) => e.isSymbolicLink())
        .map((e) => readlinkSync(join(app, 'node_modules', dir, e.name))),
    );
    expect(links.length).to.be.greaterThan(5);
    expect(links.filter((l) => isAbsolute(l))).to.deep.equal([]);
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { name: string };
    expect(pkg.name).to.equal(`@im-repo/${SERVICE}-service`);
  });

  it('records the image config: the start command as a non-root user, ports, gRPC health check', () => {
    expect(image.cmd).to.deep.equal(['node', '--max-old-space-size=128', 'dist/main.js']);
    expect(image.healthcheck).to.deep.equal(['node', 'healthcheck.mjs']);
    expect(image.user).to.equal('1000:1000');
    expect(image.expose).to.deep.equal([String(PORTS.grpc), String(PORTS.metrics)]);
    expect(image.env.NODE_ENV).to.equal('production');
  });

  it('starts as the image user, migrates its fresh database, is SERVING to the image health check, serves /metrics, and exits 0 on SIGTERM', async () => {
    const env = await freshEnv();
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    const vars = containerEnv(env, {
      SERVER_PORT: String(grpcPort),
      METRICS_PORT: String(metricsPort),
    });
    expect(await tables(env.dbName)).to.deep.equal([]);
    const service = start(vars);
    const out = await untilServing(service, vars);
    expect(out).to.include(`${SERVICE} 127.0.0.1:${grpcPort}: SERVING`);
    expect(await tables(env.dbName)).to.include.members(['users', 'user_migrations']);

    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).to.equal(200);
    expect(await metrics.text()).to.include('process_cpu_user_seconds_total');

    // The health check fails, rather than hangs, when nothing listens.
    const wrong = await healthcheck({ ...vars, SERVER_PORT: String(await freePort()) });
    expect(wrong.code).to.equal(1);

    expect(await stop(service)).to.equal(0);
    expect(service.output()).to.include('"message":"stopped"');
  });

  it('with DB_AUTO_MIGRATE=false: refuses to start before the migrate step (migrating nothing), then with mutual TLS: SERVING with the service certificate, refused without a valid one', async () => {
    const certs = join(workDir, 'certs');
    mkdirSync(certs, { mode: 0o755 });
    const ssl = (args: string) =>
      execFileSync('openssl', args.split(' '), { cwd: certs, stdio: 'pipe' });
    const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
    writeFileSync(
      join(certs, 'ext.cnf'),
      'subjectAltName=DNS:user-service\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    // A CA with a certificate the service uses both ways, and a rogue pair from another CA.
    for (const [name, ca] of [
      ['svc', 'ca'],
      ['rogue', 'rogue-ca'],
    ]) {
      ssl(`req -x509 ${ec} -keyout ${ca}.key -out ${ca}.pem -days 1 -subj /CN=${ca}`);
      ssl(`req ${ec} -keyout ${name}.key -out ${name}.csr -subj /CN=user-service`);
      ssl(
        `x509 -req -in ${name}.csr -CA ${ca}.pem -CAkey ${ca}.key -CAcreateserial ` +
          `-out ${name}.pem -days 1 -extfile ext.cnf`,
      );
    }
    for (const f of readdirSync(certs)) chmodSync(join(certs, f), 0o644);

    const env = await freshEnv();
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    const tls = {
      GRPC_TLS_CERT: join(certs, 'svc.pem'),
      GRPC_TLS_KEY: join(certs, 'svc.key'),
      GRPC_TLS_CA: join(certs, 'ca.pem'),
    };
    const vars = containerEnv(env, {
      SERVER_PORT: String(grpcPort),
      METRICS_PORT: String(metricsPort),
      DB_AUTO_MIGRATE: 'false',
      ...tls,
    });
    // Without migrations the tables do not fit the models: the service refuses to start, names
    // them, and migrates nothing; the deployment's migrate step comes first.
    const early = start(vars);
    expect(await early.exit).to.equal(1);
    expect(early.output()).to.include('the user tables do not fit the code');
    expect(await tables(env.dbName), 'DB_AUTO_MIGRATE=false runs no migration').to.deep.equal([]);
    expect(await migrate(vars)).to.equal(0);
    const migrated = await tables(env.dbName);
    expect(migrated).to.include.members(['users', 'user_migrations', 'user_outbox']);

    const service = start(vars);
    const out = await untilServing(service, vars);
    expect(out).to.include('SERVING');
    expect(await tables(env.dbName), 'the service migrated nothing more').to.deep.equal(migrated);

    const plaintext = { ...vars, GRPC_TLS_CERT: '', GRPC_TLS_KEY: '', GRPC_TLS_CA: '' };
    expect((await healthcheck(plaintext)).code, 'plaintext client').to.equal(1);
    const rogue = {
      ...vars,
      GRPC_TLS_CERT: join(certs, 'rogue.pem'),
      GRPC_TLS_KEY: join(certs, 'rogue.key'),
      GRPC_TLS_CA: join(certs, 'rogue-ca.pem'),
    };
    expect((await healthcheck(rogue)).code, 'client certificate from another CA').to.equal(1);
    expect((await healthcheck(vars)).code, 'still serving the valid client').to.equal(0);

    expect(await stop(service)).to.equal(0);
  });
});
