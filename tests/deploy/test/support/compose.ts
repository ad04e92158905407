import { readRepoFile, parseYaml, type Json } from './repo';

/**
 * Compose's variable interpolation with an empty environment: `${VAR:-default}` and `${VAR-default}`
 * give the default, `${VAR}` / `$VAR` give '', and `$$` is a literal `$` (left for the container).
 */
export function interpolate(value: unknown, env: Record<string, string> = {}): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (match, name?: string, op?: string, fallback?: string, bare?: string) => {
        if (match === '$$') return '$$';
        const key = (name ?? bare)!;
        const set = env[key];
        if (op === ':-') return set ? set : (fallback ?? '');
        if (op === '-') return set ?? fallback ?? '';
        return set ?? '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

/** docker-compose.yml as compose sees it with no variables set (merge keys applied). */
export function loadCompose(env: Record<string, string> = {}): Json {
  return interpolate(parseYaml(readRepoFile('docker-compose.yml')), env) as Json;
}

/** A service's environment as a plain map (compose allows a map or a list of NAME=value). */
export function serviceEnv(service: Json): Record<string, string> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      (env as string[]).map((item) => {
        const i = item.indexOf('=');
        return i < 0 ? [item, ''] : [item.slice(0, i), item.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, v == null ? '' : String(v)]),
  );
}

export interface PublishedPort {
  hostIp?: string;
  hostPort: number;
  containerPort: number;
}

/** Short port syntax `[ip:]host:container[/proto]`. */
export function publishedPorts(service: Json): PublishedPort[] {
  return ((service.ports as unknown[]) ?? []).map((entry) => {
    const spec = String(entry).replace(/\/(tcp|udp)$/, '');
    const parts = spec.split(':');
    if (parts.length === 3) {
      return { hostIp: parts[0], hostPort: Number(parts[1]), containerPort: Number(parts[2]) };
    }
    if (parts.length === 2) return { hostPort: Number(parts[0]), containerPort: Number(parts[1]) };
    throw new Error(`unsupported port syntax ${spec}`);
  });
}

/** Compose durations like `20s`, `1m30s`, `500ms`, in ms. */
export function durationMs(text: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|h|m|s)/g;
  let consumed = '';
  for (const m of text.matchAll(re)) {
    const n = Number(m[1]);
    total += n * { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 }[m[2] as 'h'];
    consumed += m[0];
  }
  if (consumed !== text) throw new Error(`bad duration ${text}`);
  return total;
}
