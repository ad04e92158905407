import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, configKeys, DEFAULT_PORTS, loadConfig, SERVICES } from '../src';

describe('config', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has per-service default ports and the documented defaults', () => {
    for (const service of SERVICES) {
      const c = loadConfig(service, { env: {} });
      expect(c.service).to.equal(service);
      expect(c.server.port).to.equal(DEFAULT_PORTS[service].grpc);
      expect(c.server.metrics_port).to.equal(DEFAULT_PORTS[service].metrics);
    }
    const c = loadConfig('message', { env: {} });
    expect(c.db).to.include({
      host: '127.0.0.1',
      port: 3306,
      user: 'root',
      password: '',
      name: 'im_repo',
    });
    expect(c.redis).to.include({ host: '127.0.0.1', port: 6379 });
    expect(c.user).to.include({ login_max_failures: 5, login_window_seconds: 900 });
    expect(c.group.max_members).to.equal(2000);
    expect(c.message).to.include({ max_content_bytes: 65536, recall_window_seconds: 120 });
    expect(c.peers.user).to.equal('127.0.0.1:8081');
  });

  it('reads YAML, JSON and TOML files to the same configuration', () => {
    const yaml = file(
      'c.yaml',
      `db:\n  host: db.internal\n  port: 3307\n  auto_migrate: false\nredis:\n  cluster_nodes: [a:7000, b:7001]\ngroup:\n  max_members: 500\nlog:\n  level: debug\n`,
    );
    const json = file(
      'c.json',
      JSON.stringify({
        db: { host: 'db.internal', port: 3307, auto_migrate: false },
        redis: { cluster_nodes: ['a:7000', 'b:7001'] },
        group: { max_members: 500 },
        log: { level: 'debug' },
      }),
    );
    const toml = file(
      'c.toml',
      `[db]\nhost = "db.internal"\nport = 3307\nauto_migrate = false\n[redis]\ncluster_nodes = ["a:7000", "b:7001"]\n[group]\nmax_members = 500\n[log]\nlevel = "debug"\n`,
    );
    const [a, b, c] = [yaml, json, toml].map((f) => loadConfig('group', { env: {}, file: f }));
    expect(a).to.deep.equal(b);
    expect(b).to.deep.equal(c);
    expect(a.db).to.include({ host: 'db.internal', port: 3307, auto_migrate: false });
    expect(a.redis.cluster_nodes).to.deep.equal(['a:7000', 'b:7001']);
    expect(a.group.max_members).to.equal(500);
  });

  it('takes the file from CONFIG_FILE, and env overrides the file', () => {
    const path = file('o.yaml', 'db:\n  host: from-file\n  port: 3307\nserver:\n  port: 7000\n');
    const c = loadConfig('user', {
      env: {
        CONFIG_FILE: path,
        DB_HOST: 'from-env',
        SERVER_PORT: '7100',
        REDIS_CLUSTER_NODES: 'x:1, y:2',
      },
    });
    expect(c.db.host).to.equal('from-env');
    expect(c.db.port).to.equal(3307);
    expect(c.server.port).to.equal(7100);
    expect(c.redis.cluster_nodes).to.deep.equal(['x:1', 'y:2']);
  });

  it('stops on a bad env value, naming the key and the variable', () => {
    expect(() => loadConfig('user', { env: { DB_PORT: 'abc' } }))
      .to.throw(ConfigError)
      .with.property('message')
      .that.includes('db.port (env DB_PORT)')
      .and.includes('"abc"');
    expect(() => loadConfig('user', { env: { LOG_LEVEL: 'loud' } })).to.throw(
      /log\.level \(env LOG_LEVEL\): must be one of/,
    );
    expect(() => loadConfig('user', { env: { DB_AUTO_MIGRATE: 'maybe' } })).to.throw(
      /db\.auto_migrate/,
    );
    expect(() => loadConfig('user', { env: { USER_SERVICE_ADDR: 'nohost' } })).to.throw(
      /peers\.user \(env USER_SERVICE_ADDR\)/,
    );
    expect(() =>
      loadConfig('user', { env: { USER_SERVICE_ADDR: 'a.example:1,b.example:2' } }),
    ).to.throw(/comma list of IPv4/);
    expect(
      loadConfig('user', { env: { USER_SERVICE_ADDR: '127.0.0.1:8081,127.0.0.2:8081' } }).peers
        .user,
    ).to.equal('127.0.0.1:8081,127.0.0.2:8081');
    expect(() => loadConfig('user', { env: { USER_SERVICE_ADDR: 'dns:///nohost' } })).to.throw(
      /peers\.user \(env USER_SERVICE_ADDR\): must be host:port, dns:\/\/\/host:port/,
    );
    expect(() => loadConfig('user', { env: { GROUP_MAX_MEMBERS: '1' } })).to.throw(
      /group\.max_members/,
    );
    // Above NATS's default max payload (1 MiB), and a message must fit a 4 MiB answer.
    expect(() => loadConfig('message', { env: { MESSAGE_MAX_CONTENT_BYTES: '1048577' } })).to.throw(
      /message\.max_content_bytes/,
    );
    expect(
      loadConfig('message', { env: { MESSAGE_MAX_CONTENT_BYTES: '1048576' } }).message
        .max_content_bytes,
    ).to.equal(1048576);
  });

  it('takes peer addresses as host:port or as dns:/// targets (every address of the name)', () => {
    const peers = loadConfig('user', {
      env: {
        USER_SERVICE_ADDR: 'dns:///user-service:8081',
        GROUP_SERVICE_ADDR: 'dns://10.0.0.10:53/group-service.im.svc:8082',
        MESSAGE_SERVICE_ADDR: 'message:8083',
      },
    }).peers;
    expect(peers.user).to.equal('dns:///user-service:8081');
    expect(peers.group).to.equal('dns://10.0.0.10:53/group-service.im.svc:8082');
    expect(peers.message).to.equal('message:8083');
  });

  it('reports every bad value at once', () => {
    try {
      loadConfig('user', { env: { DB_PORT: '99999', REDIS_PORT: '-1' } });
      expect.fail('should have thrown');
    } catch (err) {
      expect((err as ConfigError).problems).to.have.length(2);
    }
  });

  it('stops on a bad file value or an unknown key, naming them', () => {
    const bad = file('bad.yaml', 'db:\n  port: "not a port"\n');
    expect(() => loadConfig('user', { env: {}, file: bad })).to.throw(
      /db\.port \(in .*bad\.yaml\)/,
    );
    const typo = file('typo.yaml', 'db:\n  hots: x\n');
    expect(() => loadConfig('user', { env: {}, file: typo })).to.throw(/db\.hots .*unknown key/);
    const toml = file('broken.json', '{ not json');
    expect(() => loadConfig('user', { env: {}, file: toml })).to.throw();
    const ext = file('c.ini', 'x=1');
    expect(() => loadConfig('user', { env: {}, file: ext })).to.throw(/unknown format/);
  });

  it('requires TLS cert and key together, and mTLS CA only with them', () => {
    expect(() => loadConfig('user', { env: { GRPC_TLS_CERT: '/c.pem' } })).to.throw(
      /set both or neither/,
    );
    expect(() => loadConfig('user', { env: { GRPC_TLS_CA: '/ca.pem' } })).to.throw(/mutual TLS/);
  });

  it('lists every key once with a unique env name', () => {
    const keys = configKeys();
    expect(new Set(keys.map((k) => k.env)).size).to.equal(keys.length);
    expect(keys.map((k) => k.env)).to.include.members([
      'SERVER_PORT',
      'DB_HOST',
      'DB_PORT',
      'DB_USER',
      'DB_PASSWORD',
      'DB_NAME',
      'REDIS_HOST',
      'REDIS_PORT',
      'REDIS_PASSWORD',
      'LOG_LEVEL',
      'METRICS_PORT',
      'USER_SERVICE_ADDR',
      'GROUP_SERVICE_ADDR',
      'MESSAGE_SERVICE_ADDR',
      'CONVERSATION_SERVICE_ADDR',
      'PRESENCE_SERVICE_ADDR',
      'REDIS_CLUSTER_NODES',
      'GRPC_TLS_CERT',
      'GRPC_TLS_KEY',
      'GRPC_TLS_CA',
      'DB_AUTO_MIGRATE',
    ]);
  });
});
