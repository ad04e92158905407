import {
  AlreadyExistsError,
  AppError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from '@im-repo/errors';
import { ConnectionError, TimeoutError, UniqueConstraintError } from 'sequelize';

// mysql2 / MariaDB codes that mean "the database cannot serve us right now".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_OPTION_PREVENTS_STATEMENT', // read-only replica during failover
  'POOL_ACQUIRE_TIMEOUT', // every pooled connection busy past the connect timeout (driver.ts)
]);

// Codes after which the connection itself can't be trusted with another statement.
const BROKEN_CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
]);

interface DriverError {
  code?: string;
  sqlMessage?: string;
  fatal?: boolean;
}

/** The mysql2 error under a Sequelize wrapper, or the error itself (driver-level statements). */
function driverError(err: unknown): DriverError | undefined {
  const e = err as { parent?: DriverError; original?: DriverError } | undefined;
  return e?.parent ?? e?.original ?? (e as DriverError | undefined);
}

const driverCode = (err: unknown) => driverError(err)?.code;

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof UniqueConstraintError || driverCode(err) === 'ER_DUP_ENTRY';
}

/** Which unique key a duplicate hit (MySQL names it in the message: "for key 'users.username'"). */
export function violatedKey(err: unknown): string | undefined {
  const match = /for key '(?:[^'.]+\.)?([^']+)'/.exec(driverError(err)?.sqlMessage ?? '');
  return match?.[1];
}

export function isDeadlock(err: unknown): boolean {
  const code = driverCode(err);
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT';
}

/** True when the statement's connection must be destroyed rather than go back to the pool. */
export function isConnectionBroken(err: unknown): boolean {
  const e = driverError(err);
  return e?.fatal === true || (e?.code !== undefined && BROKEN_CONNECTION_CODES.has(e.code));
}

export function isDbUnavailable(err: unknown): boolean {
  if (err instanceof ConnectionError || err instanceof TimeoutError) return true;
  const code = driverCode(err);
  return code !== undefined && UNAVAILABLE_CODES.has(code);
}

/** The column a value error names: "column 'x'", or MariaDB's "column `db`.`table`.`x`". */
function column(err: unknown): string {
  const named = /column (\S+)/.exec(driverError(err)?.sqlMessage ?? '')?.[1];
  return named?.replace(/[`']/g, '').split('.').pop() || 'unknown';
}

/*
 * Values the store refused. Validation should have stopped each of them first; if one slips
 * through (a limit changed on one side only), the caller still learns which value and why,
 * never INTERNAL. The column stands for the request field of the same name.
 */
const VALUE_ERRORS: Record<string, { reason: string; what: string }> = {
  ER_DATA_TOO_LONG: { reason: 'VALUE_TOO_LONG', what: 'is too long to store' },
  ER_WARN_DATA_OUT_OF_RANGE: { reason: 'VALUE_OUT_OF_RANGE', what: 'is out of the stored range' },
  ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: { reason: 'INVALID_VALUE', what: 'cannot be stored as sent' },
  ER_TRUNCATED_WRONG_VALUE: { reason: 'INVALID_VALUE', what: 'cannot be stored as sent' },
};

/**
 * Maps a driver error to what the caller should see: a unique violation nobody handled is
 * ALREADY_EXISTS, a lost or refused connection is UNAVAILABLE, a value the store refused is
 * INVALID_ARGUMENT naming it, a statement over max_allowed_packet is RESOURCE_EXHAUSTED.
 * Anything else is left alone (it becomes INTERNAL, logged, never sent).
 */
export function translateDbError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (isUniqueViolation(err)) {
    return new AlreadyExistsError('ALREADY_EXISTS', 'the resource already exists');
  }
  if (isDbUnavailable(err)) {
    return new UnavailableError('DATABASE_UNAVAILABLE', 'the database is unavailable', {
      cause: err,
    });
  }
  // Statements run on the driver throw mysql2's own errors, so this goes by the code alone.
  if (driverCode(err) === 'ER_LOCK_DEADLOCK') {
    return new UnavailableError('DATABASE_CONTENTION', 'the database is busy, retry', {
      cause: err,
    });
  }
  const code = driverCode(err);
  const value = code === undefined ? undefined : VALUE_ERRORS[code];
  if (value) {
    const field = column(err);
    return new InvalidArgumentError(field, `${field} ${value.what}`, value.reason);
  }
  if (code === 'ER_NET_PACKET_TOO_LARGE') {
    return new ResourceExhaustedError('REQUEST_TOO_LARGE', 'the request is too large to store');
  }
  return undefined;
}
