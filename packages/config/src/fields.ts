/** One configuration value: its env name, default, documentation and parser. */
export interface Field<T> {
  readonly kind: 'field';
  readonly env: string;
  readonly doc: string;
  readonly default: T | ((service: ServiceName) => T);
  /** Parses a value from a file (any JSON-like value) or from env (always a string). */
  parse(raw: unknown, fromEnv: boolean): T;
  /** How the default is shown in docs. */
  readonly shownDefault?: string;
}

export type ServiceName = 'user' | 'group' | 'message' | 'conversation' | 'presence';

/** Thrown by a parser; the loader prefixes it with the key. */
export class FieldError extends Error {}

interface Common<T> {
  env: string;
  doc: string;
  default: T | ((service: ServiceName) => T);
  shownDefault?: string;
}

const show = (raw: unknown) => JSON.stringify(raw);

export function string(opts: Common<string> & { allowEmpty?: boolean }): Field<string> {
  return {
    kind: 'field',
    ...opts,
    parse(raw) {
      if (typeof raw !== 'string' && typeof raw !== 'number') {
        throw new FieldError(`must be a string, got ${show(raw)}`);
      }
      const value = String(raw);
      if (!opts.allowEmpty && value === '') throw new FieldError('must not be empty');
      return value;
    },
  };
}

export function int(opts: Common<number> & { min: number; max: number }): Field<number> {
  return {
    kind: 'field',
    ...opts,
    parse(raw) {
      const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      if (
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < opts.min ||
        value > opts.max
      ) {
        throw new FieldError(
          `must be an integer from ${opts.min} to ${opts.max}, got ${show(raw)}`,
        );
      }
      return value;
    },
  };
}

export function port(opts: Common<number>): Field<number> {
  // 0 asks the OS for a free port (tests).
  return int({ ...opts, min: 0, max: 65535 });
}

export function bool(opts: Common<boolean>): Field<boolean> {
  return {
    kind: 'field',
    ...opts,
    parse(raw) {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string') {
        const v = raw.trim().toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(v)) return true;
        if (['false', '0', 'no', 'off'].includes(v)) return false;
      }
      throw new FieldError(`must be true or false, got ${show(raw)}`);
    },
  };
}

export function oneOf<T extends string>(opts: Common<T> & { values: readonly T[] }): Field<T> {
  return {
    kind: 'field',
    ...opts,
    parse(raw) {
      if (typeof raw === 'string' && (opts.values as readonly string[]).includes(raw)) {
        return raw as T;
      }
      throw new FieldError(`must be one of ${opts.values.join(', ')}, got ${show(raw)}`);
    },
  };
}

/** A list: an array in a file, comma-separated in env. */
export function list(opts: Common<string[]>): Field<string[]> {
  return {
    kind: 'field',
    ...opts,
    parse(raw, fromEnv) {
      if (fromEnv && typeof raw === 'string') {
        return raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
      }
      if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return raw as string[];
      throw new FieldError(`must be a list of strings, got ${show(raw)}`);
    },
  };
}

/** host:port */
export function address(opts: Common<string>): Field<string> {
  return {
    kind: 'field',
    ...opts,
    parse(raw) {
      // One host:port; dns:///host:port, which makes grpc-js resolve every address of the name (a
      // headless Kubernetes Service) for round_robin to spread calls over; or several replicas on
      // fixed addresses, a comma list of IPv4 host:port (one round_robin channel, grpc's ipv4:).
      const one = /^(dns:\/\/[^\s/]*\/)?[^\s:/,]+:\d{1,5}$/;
      const ipv4 = /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/;
      const parts = typeof raw === 'string' ? raw.split(',') : [];
      const valid = parts.length === 1 ? one.test(parts[0]!) : parts.every((p) => ipv4.test(p));
      if (!valid) {
        throw new FieldError(
          `must be host:port, dns:///host:port or a comma list of IPv4 host:port, got ${show(raw)}`,
        );
      }
      return raw as string;
    },
  };
}
