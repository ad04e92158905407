#!/usr/bin/env node
// docker-compose.yml as tests/images/compose.sh brings it up where no registry is reachable:
//   node tests/images/compose-variant.mjs <compose file> <deps image> <service tag> <out.yml> <ports.json>
// The five services keep everything but their image tag (the images just built; no build:).
// mysql, redis and nats run from <deps image> (Debian's mariadb-server, redis-server,
// nats-server) with a command and health check of their own; their ports, volumes and
// dependents stay as written. Health checks get longer timeouts. Services from a registry only (prometheus) are dropped. Every
// published host port moves to a free one; ports.json maps each service to its first one.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';

const [file, depsImage, tag, out, portsOut] = process.argv.slice(2);
const require = createRequire(new URL('../deploy/package.json', import.meta.url));
const YAML = require('yaml');

const compose = YAML.parse(readFileSync(file, 'utf8'), { merge: true });

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const deps = {
  mysql: {
    // root may connect from the other containers, without a password (DB_PASSWORD is empty).
    command: [
      'bash',
      '-c',
      [
        'set -e',
        'mkdir -p /run/mysqld',
        // --init-file runs one statement per line.
        "printf '%s\\n' \"CREATE USER IF NOT EXISTS root@'%';\" \"GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;\" > /tmp/init.sql",
        '[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=root --datadir=/var/lib/mysql --auth-root-authentication-method=normal --skip-test-db > /dev/null',
        'exec mariadbd --user=root --datadir=/var/lib/mysql --bind-address=0.0.0.0 --init-file=/tmp/init.sql',
      ].join('; '),
    ],
    healthcheck: ['CMD', 'mariadb-admin', '--protocol=tcp', '-h127.0.0.1', '-uroot', 'ping'],
  },
  redis: {
    command: [
      'redis-server',
      '--bind',
      '0.0.0.0',
      '--protected-mode',
      'no',
      '--appendonly',
      'yes',
      '--dir',
      '/data',
    ],
    healthcheck: ['CMD-SHELL', 'redis-cli ping | grep -q PONG'],
  },
  nats: {
    command: ['nats-server', '-js', '-a', '0.0.0.0', '-p', '4222', '-sd', '/data'],
    healthcheck: ['CMD', 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/4222'],
  },
};

// Health checks keep their commands but get room for a busy CI machine (a node process can take
// more than the file's 3 s to start there); the file's own timings are checked in tests/deploy.
const relaxed = { timeout: '30s', interval: '5s', start_period: '300s', retries: 60 };

const ports = {};
const dropped = [];
for (const [name, service] of Object.entries(compose.services)) {
  const image = String(service.image ?? '');
  if (/^im-repo\//.test(image)) {
    service.image = image.replace(/:[^:/]*$/, `:${tag}`);
    delete service.build;
  } else if (deps[name]) {
    service.image = depsImage;
    service.command = deps[name].command;
    delete service.entrypoint;
    delete service.environment;
    service.healthcheck = { ...service.healthcheck, test: deps[name].healthcheck };
    // The nats data volume, wherever the file mounts it, is where -sd points.
    if (name === 'nats' && Array.isArray(service.volumes)) {
      service.volumes = service.volumes.map((v) =>
        typeof v === 'string' ? v.replace(/:[^:]+$/, ':/data') : { ...v, target: '/data' },
      );
    }
  } else {
    dropped.push(name);
    delete compose.services[name];
    continue;
  }
  if (service.healthcheck) service.healthcheck = { ...service.healthcheck, ...relaxed };
  service.ports = await Promise.all(
    (service.ports ?? []).map(async (spec) => {
      const m = /^(?:([\d.]+):)?(\$\{[^}]*\}|\d+):(\d+)(\/\w+)?$/.exec(String(spec));
      if (!m) throw new Error(`${name}: unsupported port ${spec}`);
      const host = await freePort();
      ports[name] ??= host;
      return `${m[1] ?? '127.0.0.1'}:${host}:${m[3]}${m[4] ?? ''}`;
    }),
  );
}
for (const service of Object.values(compose.services)) {
  if (service.depends_on && !Array.isArray(service.depends_on)) {
    for (const gone of dropped) delete service.depends_on[gone];
  }
}
for (const gone of dropped) delete compose.volumes?.[`${gone}-data`];

// Quoted: docker-compose reads YAML 1.1, where a bare yes is a boolean.
writeFileSync(out, YAML.stringify(compose, { defaultStringType: 'QUOTE_DOUBLE', lineWidth: 0 }));
writeFileSync(portsOut, JSON.stringify(ports));
process.stdout.write(
  `[compose] variant: ${Object.keys(compose.services).join(', ')}; left out: ${dropped.join(', ') || 'none'}\n`,
);
