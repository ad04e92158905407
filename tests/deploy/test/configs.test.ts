import { configKeys, loadConfig, readConfigFile, schema, SERVICES } from '@im-repo/config';
import { expect } from 'chai';
import { repoPath, readRepoFile } from './support/repo';

// configs/: one complete example of every setting, in three formats that must mean the same.
const FILES = ['default.yaml', 'default.json', 'default.toml'] as const;

function lookup(tree: Record<string, unknown>, path: string): unknown {
  let node: unknown = tree;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Keys whose default depends on the service (ports): a single file cannot hold one value. */
function perServiceKeys(): Set<string> {
  const keys = new Set<string>();
  for (const [section, fields] of Object.entries(schema)) {
    for (const [name, field] of Object.entries(fields as Record<string, { default: unknown }>)) {
      if (typeof field.default === 'function') keys.add(`${section}.${name}`);
    }
  }
  return keys;
}

const noEnv = {};

describe('configs/ example files', () => {
  const perService = perServiceKeys();

  it('knows the per-service keys it treats specially (the ports, the internal callers)', () => {
    expect([...perService].sort()).to.deep.equal([
      'server.metrics_port',
      'server.port',
      'tls.internal_callers',
    ]);
  });

  for (const file of FILES) {
    describe(file, () => {
      const tree = () => readConfigFile(repoPath('configs', file));

      it('holds every key of the schema', () => {
        const data = tree();
        const toml = file.endsWith('.toml') ? readRepoFile('configs', file) : '';
        const missing: string[] = [];
        for (const { path } of configKeys()) {
          const value = lookup(data, path);
          if (perService.has(path)) {
            // null means "the service's own default"; TOML has no null, so the key is shown
            // commented out under its section instead.
            const name = path.split('.').pop()!;
            const shown = file.endsWith('.toml')
              ? new RegExp(`^# ${name} = \\S.*$`, 'm').test(toml) && value === undefined
              : value === null;
            if (!shown) missing.push(path);
          } else if (value === undefined || value === null) {
            missing.push(path);
          }
        }
        expect(missing, `keys missing from configs/${file}`).to.deep.equal([]);
      });

      it('has no key the schema does not know', () => {
        const known = new Set(configKeys().map((k) => k.path));
        const unknown: string[] = [];
        const visit = (node: unknown, prefix: string) => {
          for (const [name, value] of Object.entries(node as Record<string, unknown>)) {
            const path = prefix ? `${prefix}.${name}` : name;
            if (known.has(path)) continue;
            if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
              visit(value, path);
            } else unknown.push(path);
          }
        };
        visit(tree(), '');
        expect(unknown).to.deep.equal([]);
      });

      it('loads for every service and equals the built-in defaults', () => {
        for (const service of SERVICES) {
          const fromFile = loadConfig(service, { file: repoPath('configs', file), env: noEnv });
          const defaults = loadConfig(service, { file: '', env: noEnv });
          expect(fromFile, `${file} for ${service}`).to.deep.equal(defaults);
        }
      });
    });
  }

  it('the three formats mean the same for every service', () => {
    for (const service of SERVICES) {
      const [yaml, ...others] = FILES.map((file) =>
        loadConfig(service, { file: repoPath('configs', file), env: noEnv }),
      );
      for (const [i, other] of others.entries()) {
        expect(other, `${FILES[i + 1]} vs default.yaml for ${service}`).to.deep.equal(yaml);
      }
    }
  });

  it('names every key with its environment variable in the YAML comments', () => {
    const yaml = readRepoFile('configs', 'default.yaml');
    const unnamed = configKeys().filter((k) => !yaml.includes(`Env ${k.env}.`));
    expect(unnamed.map((k) => k.env)).to.deep.equal([]);
  });

  it('env still wins over the file (the documented precedence)', () => {
    const config = loadConfig('user', {
      file: repoPath('configs', 'default.toml'),
      env: { DB_HOST: 'db.example', SERVER_PORT: '7001' },
    });
    expect(config.db.host).to.equal('db.example');
    expect(config.server.port).to.equal(7001);
    expect(config.server.metrics_port).to.equal(9081);
  });
});
