import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { FieldError, type Field, type ServiceName } from './fields';
import { schema } from './schema';

type Infer<S> = {
  -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : Infer<S[K]>;
};

export type Config = Infer<typeof schema> & { service: ServiceName };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** A config file; defaults to env CONFIG_FILE. */
  file?: string;
  /** Values applied over everything else (tests). */
  overrides?: DeepPartial<Config>;
}

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

export interface KeyInfo {
  path: string;
  env: string;
  doc: string;
  shownDefault: string;
}

function isField(node: unknown): node is Field<unknown> {
  return typeof node === 'object' && node !== null && (node as Field<unknown>).kind === 'field';
}

function walk(node: object, prefix: string, visit: (path: string, field: Field<unknown>) => void) {
  for (const [name, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (isField(child)) visit(path, child);
    else walk(child as object, path, visit);
  }
}

/** Every key with its env name and default, for docs and for checking deployment files. */
export function configKeys(): KeyInfo[] {
  const keys: KeyInfo[] = [];
  walk(schema, '', (path, field) => {
    const shown =
      field.shownDefault ??
      (typeof field.default === 'function' ? '(per service)' : JSON.stringify(field.default));
    keys.push({ path, env: field.env, doc: field.doc, shownDefault: shown });
  });
  return keys;
}

/** Reads a YAML, JSON or TOML file into a plain object. */
export function readConfigFile(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  const ext = extname(file).toLowerCase();
  let data: unknown;
  if (ext === '.yaml' || ext === '.yml') data = parseYaml(text);
  else if (ext === '.json') data = JSON.parse(text);
  else if (ext === '.toml') data = parseToml(text);
  else throw new ConfigError([`CONFIG_FILE ${file}: unknown format (use .yaml, .json or .toml)`]);
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([`CONFIG_FILE ${file}: the top level must be a mapping`]);
  }
  return data as Record<string, unknown>;
}

function lookup(tree: Record<string, unknown>, path: string): unknown {
  let node: unknown = tree;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function assign(tree: Record<string, unknown>, path: string, value: unknown) {
  const parts = path.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Names of keys in a file that the schema does not know (typos would otherwise pass silently). */
function unknownKeys(tree: unknown, node: object, prefix: string): string[] {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) return [];
  const found: string[] = [];
  for (const [name, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const spec = (node as Record<string, unknown>)[name];
    if (spec === undefined) found.push(path);
    else if (!isField(spec)) found.push(...unknownKeys(value, spec as object, path));
  }
  return found;
}

/**
 * Builds the configuration of one service: defaults, then the config file, then env. Every
 * invalid value is reported at once, each naming its key and env variable.
 */
export function loadConfig(service: ServiceName, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.CONFIG_FILE;
  const fileTree = file ? readConfigFile(file) : {};
  const problems = unknownKeys(fileTree, schema, '').map(
    (path) => `${path} (in ${file}): unknown key`,
  );
  const result: Record<string, unknown> = { service };

  walk(schema, '', (path, field) => {
    let value = typeof field.default === 'function' ? field.default(service) : field.default;
    try {
      const fromFile = lookup(fileTree, path);
      if (fromFile !== undefined && fromFile !== null) value = field.parse(fromFile, false);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      problems.push(`${path} (in ${file}): ${err.message}`);
    }
    const fromEnv = env[field.env];
    if (fromEnv !== undefined) {
      try {
        value = field.parse(fromEnv, true);
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        problems.push(`${path} (env ${field.env}): ${err.message}`);
      }
    }
    const override = options.overrides ? lookup(options.overrides, path) : undefined;
    if (override !== undefined) value = override;
    assign(result, path, value);
  });

  const config = result as Config;
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) {
    problems.push('tls.cert / tls.key (env GRPC_TLS_CERT / GRPC_TLS_KEY): set both or neither');
  }
  if (config.tls.ca && !config.tls.cert) {
    problems.push('tls.ca (env GRPC_TLS_CA): mutual TLS also needs GRPC_TLS_CERT and GRPC_TLS_KEY');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
