import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configKeys, DEFAULT_PORTS, loadConfig, SERVICES, type ServiceName } from '@im-repo/config';
import { expect } from 'chai';
import { durationMs, loadCompose, publishedPorts, serviceEnv } from './support/compose';
import {
  at,
  commandWorks,
  parseYaml,
  readRepoFile,
  repoPath,
  ROOT,
  type Json,
} from './support/repo';

/** Who calls whom at run time (ARCHITECTURE.md); message and conversation call each other. */
const CALLS: Record<ServiceName, ServiceName[]> = {
  user: [],
  group: ['user', 'conversation'],
  message: ['user', 'group', 'conversation'],
  conversation: ['message'],
  presence: [],
};
const WITHOUT_MYSQL: ServiceName[] = ['presence'];
const PEER_ENV: Record<ServiceName, string> = {
  user: 'USER_SERVICE_ADDR',
  group: 'GROUP_SERVICE_ADDR',
  message: 'MESSAGE_SERVICE_ADDR',
  conversation: 'CONVERSATION_SERVICE_ADDR',
  presence: 'PRESENCE_SERVICE_ADDR',
};
const INFRA = ['mysql', 'redis', 'nats', 'prometheus'];

function dependsOn(service: Json): Record<string, { condition?: string }> {
  const deps = service.depends_on;
  if (deps === undefined) return {};
  if (Array.isArray(deps)) throw new Error('depends_on must use the long form with a condition');
  return deps as Record<string, { condition?: string }>;
}

function composeValidator(): { name: string; cmd: string; args: string[] } | undefined {
  if (commandWorks('docker', ['compose', 'version'])) {
    return { name: 'docker compose', cmd: 'docker', args: ['compose'] };
  }
  if (commandWorks('docker-compose', ['version'])) {
    return { name: 'docker-compose', cmd: 'docker-compose', args: [] };
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  const compose = loadCompose();
  const services = at<Record<string, Json>>(compose, 'services');
  const svc = (name: string) => at<Json>(services, name);
  const envNames = new Set(configKeys().map((k) => k.env));

  it('has MySQL, Redis, NATS, Prometheus and every service of the config schema, nothing else', () => {
    expect(Object.keys(services).sort()).to.deep.equal([...INFRA, ...SERVICES].sort());
    expect(svc('mysql').image).to.equal('mysql:8.0');
    expect(svc('redis').image).to.match(/^redis:7(\.|$)/);
  });

  it('leaves no variable unresolved (only $$ escapes reach the containers)', () => {
    const text = JSON.stringify(compose).replace(/\$\$/g, '');
    expect(text).not.to.include('$');
  });

  for (const name of SERVICES) {
    describe(`service ${name}`, () => {
      const service = svc(name);
      const env = serviceEnv(service);
      const ports = DEFAULT_PORTS[name];

      it('is built from infra/Dockerfile with SERVICE and tagged like make docker-build', () => {
        expect(at(service, 'build', 'context')).to.equal('.');
        expect(at(service, 'build', 'dockerfile')).to.equal('infra/Dockerfile');
        expect(existsSync(repoPath('infra', 'Dockerfile'))).to.equal(true);
        expect(at(service, 'build', 'args', 'SERVICE')).to.equal(name);
        expect(service.image).to.equal(`im-repo/${name}-service:latest`);
      });

      it('sets only env names the config schema knows, with values it accepts', () => {
        const unknown = Object.keys(env).filter((k) => !envNames.has(k));
        expect(unknown, 'env names not in packages/config').to.deep.equal([]);
        const config = loadConfig(name, { env, file: '' });
        expect(config.server.port).to.equal(ports.grpc);
        expect(config.server.metrics_port).to.equal(ports.metrics);
        expect(config.server.host).to.equal('0.0.0.0');
        expect(config.redis.host).to.equal('redis');
        expect(config.redis.port).to.equal(6379);
      });

      it('reaches MySQL and every peer by compose service name and port', () => {
        if (WITHOUT_MYSQL.includes(name)) {
          expect(Object.keys(env).filter((k) => k.startsWith('DB_'))).to.deep.equal([]);
        } else {
          const db = loadConfig(name, { env, file: '' }).db;
          expect([db.host, db.port, db.user, db.name]).to.deep.equal([
            'mysql',
            3306,
            'root',
            'im_repo',
          ]);
          const mysqlEnv = serviceEnv(svc('mysql'));
          // The services log in as root with the password the MySQL container was given.
          expect(env.DB_PASSWORD).to.equal(mysqlEnv.MYSQL_ROOT_PASSWORD);
        }
        for (const peer of SERVICES) {
          expect(env[PEER_ENV[peer]], PEER_ENV[peer]).to.equal(
            `${peer}:${DEFAULT_PORTS[peer].grpc}`,
          );
        }
      });

      it('publishes its gRPC and metrics ports on loopback only', () => {
        expect(publishedPorts(service)).to.deep.equal([
          { hostIp: '127.0.0.1', hostPort: ports.grpc, containerPort: ports.grpc },
          { hostIp: '127.0.0.1', hostPort: ports.metrics, containerPort: ports.metrics },
        ]);
      });

      it('has the image health check (gRPC health) and outlives the drain on stop', () => {
        const hc = at<Json>(service, 'healthcheck');
        expect(hc.test).to.deep.equal(['CMD', 'node', 'healthcheck.mjs']);
        expect(durationMs(String(hc.timeout))).to.be.at.most(durationMs(String(hc.interval)));
        expect(hc.retries).to.be.a('number').and.be.greaterThan(0);
        const drain = loadConfig(name, { env, file: '' }).server.shutdown_timeout_ms;
        expect(durationMs(String(service.stop_grace_period))).to.be.greaterThan(drain);
        expect(service.restart).to.equal('unless-stopped');
      });

      it('waits for healthy MySQL/Redis and for the peers it needs, never for others', () => {
        const deps = dependsOn(service);
        for (const [dep, spec] of Object.entries(deps)) {
          expect(spec.condition, `${name} -> ${dep}`).to.equal('service_healthy');
          expect(svc(dep).healthcheck, `${dep} has a healthcheck`).to.be.an('object');
        }
        expect(Object.keys(deps)).to.include('redis');
        expect(Object.keys(deps).includes('mysql')).to.equal(!WITHOUT_MYSQL.includes(name));
        const peers = Object.keys(deps).filter((d) => !INFRA.includes(d));
        for (const peer of peers)
          expect(CALLS[name], `${name} depends on ${peer}`).to.include(peer);
      });
    });
  }

  it('orders start-up without cycles, and every call is to a peer started first or a cycle broken', () => {
    const edges = (n: string) => Object.keys(dependsOn(svc(n)));
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      edges(from).some((d) => d === to || (!seen.has(d) && (seen.add(d), reaches(d, to, seen))));
    for (const name of Object.keys(services)) {
      expect(reaches(name, name), `${name} depends on itself`).to.equal(false);
    }
    for (const name of SERVICES) {
      for (const peer of CALLS[name]) {
        // Either name waits for peer, or peer (transitively) waits for name: the call cycle
        // message <-> conversation is broken on one side only.
        expect(reaches(name, peer) || reaches(peer, name), `${name} -> ${peer}`).to.equal(true);
      }
    }
  });

  it('`docker compose up -d mysql redis` starts the dev dependencies alone, where the defaults look', () => {
    for (const name of ['mysql', 'redis']) {
      expect(dependsOn(svc(name)), `${name} depends on nothing`).to.deep.equal({});
      expect(svc(name).healthcheck, `${name} healthcheck`).to.be.an('object');
    }
    // A service run on the host with no settings at all must find them.
    const defaults = loadConfig('user', { env: {}, file: '' });
    expect(publishedPorts(svc('mysql'))).to.deep.equal([
      { hostIp: '127.0.0.1', hostPort: defaults.db.port, containerPort: 3306 },
    ]);
    expect(publishedPorts(svc('redis'))).to.deep.equal([
      { hostIp: '127.0.0.1', hostPort: defaults.redis.port, containerPort: 6379 },
    ]);
    const mysqlEnv = serviceEnv(svc('mysql'));
    expect(mysqlEnv.MYSQL_ROOT_PASSWORD).to.equal(defaults.db.password);
    expect(mysqlEnv.MYSQL_ALLOW_EMPTY_PASSWORD).to.equal('yes');
    expect(mysqlEnv.MYSQL_DATABASE).to.equal(defaults.db.name);
  });

  it('lets the host ports of MySQL and Redis move when the defaults are taken', () => {
    const moved = loadCompose({
      MYSQL_HOST_PORT: '3307',
      REDIS_HOST_PORT: '6380',
      DB_PASSWORD: 's3cret',
    });
    const movedServices = at<Record<string, Json>>(moved, 'services');
    expect(publishedPorts(movedServices.mysql!)[0]!.hostPort).to.equal(3307);
    expect(publishedPorts(movedServices.redis!)[0]!.hostPort).to.equal(6380);
    expect(serviceEnv(movedServices.mysql!).MYSQL_ROOT_PASSWORD).to.equal('s3cret');
    expect(serviceEnv(movedServices.user!).DB_PASSWORD).to.equal('s3cret');
  });

  it('runs NATS with JetStream on a volume, and points the services that emit events at it', () => {
    const nats = svc('nats');
    expect(nats.command).to.include('-js');
    expect((nats.volumes as string[]).some((v) => v.endsWith(':/data'))).to.equal(true);
    for (const name of ['user', 'group', 'message', 'conversation']) {
      expect(serviceEnv(svc(name)).EVENTS_NATS_URL, name).to.equal('nats://nats:4222');
    }
  });

  it('keeps data in named volumes and mounts only files that exist in the repository', () => {
    const declared = Object.keys(at<Json>(compose, 'volumes'));
    const used: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes as string[] | undefined) ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('.') || source!.startsWith('/')) {
          expect(existsSync(join(ROOT, source!)), `${name} mounts ${source}`).to.equal(true);
        } else {
          expect(declared, `${name} uses volume ${source}`).to.include(source);
          used.push(source!);
        }
      }
    }
    expect(used.sort()).to.deep.equal([...declared].sort());
    expect((svc('mysql').volumes as string[]).some((v) => v.endsWith(':/var/lib/mysql'))).to.equal(
      true,
    );
    expect((svc('redis').volumes as string[]).some((v) => v.endsWith(':/data'))).to.equal(true);
  });

  it('checks MySQL over TCP and Redis with PING in their health checks', () => {
    expect(JSON.stringify(at(svc('mysql'), 'healthcheck', 'test'))).to.include(
      'mysqladmin ping -h 127.0.0.1',
    );
    expect(JSON.stringify(at(svc('redis'), 'healthcheck', 'test'))).to.include('redis-cli ping');
    expect(JSON.stringify(at(svc('prometheus'), 'healthcheck', 'test'))).to.include('/-/ready');
  });

  describe('Prometheus', () => {
    const prometheus = svc('prometheus');
    const config = parseYaml(readRepoFile('infra', 'prometheus', 'prometheus.yml')) as Json;

    it('runs with infra/prometheus/prometheus.yml mounted where its command reads it', () => {
      const volumes = prometheus.volumes as string[];
      expect(volumes).to.include(
        './infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
      );
      expect(prometheus.command).to.include('--config.file=/etc/prometheus/prometheus.yml');
    });

    it('scrapes every service /metrics at its compose name and metrics port', () => {
      const jobs = at<Json[]>(config, 'scrape_configs');
      const env = (name: string) => serviceEnv(svc(name));
      for (const name of SERVICES) {
        const job = jobs.find((j) => j.job_name === name);
        expect(job, `scrape job ${name}`).to.be.an('object');
        expect(job!.metrics_path ?? '/metrics').to.equal('/metrics');
        const targets = at<Json[]>(job, 'static_configs').flatMap((c) => c.targets as string[]);
        expect(targets).to.deep.equal([`${name}:${DEFAULT_PORTS[name].metrics}`]);
        expect(env(name).METRICS_PORT).to.equal(String(DEFAULT_PORTS[name].metrics));
      }
    });
  });

  const validator = composeValidator();
  const title = validator
    ? `is accepted by \`${validator.name} config\`, which rejects a broken copy`
    : 'is accepted by `docker compose config`: SKIPPED, no compose binary here (apt-get install docker-compose)';
  it(title, function () {
    if (!validator) this.skip();
    const run = (file: string) =>
      spawnSync(
        validator.cmd,
        [...validator.args, '-f', file, '--project-directory', ROOT, 'config', '-q'],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    const good = run(repoPath('docker-compose.yml'));
    expect(good.status, good.stderr).to.equal(0);
    const dir = mkdtempSync(join(tmpdir(), 'im-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      writeFileSync(
        broken,
        readRepoFile('docker-compose.yml').replace(
          'condition: service_healthy',
          'condition: service_ready',
        ),
      );
      const bad = run(broken);
      expect(bad.status, 'a bad depends_on condition must be rejected').to.not.equal(0);
      expect(bad.stderr).to.include('service_ready');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
