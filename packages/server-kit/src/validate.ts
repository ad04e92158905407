/**
 * Request validation for handlers. Each check throws InvalidArgumentError naming the field, so
 * a bad request always gets INVALID_ARGUMENT with ErrorInfo.metadata.field set.
 */
import { InvalidArgumentError } from '@im-repo/errors';
import { ID_PATTERN, parseConversationId, type ParsedConversationId } from '@im-repo/proto';

/** Length in Unicode code points (what API.md calls chars). */
export function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** A required id: 1-64 chars of [A-Za-z0-9-]. */
export function id(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, `${field} is required`);
  if (!ID_PATTERN.test(value)) {
    throw new InvalidArgumentError(
      field,
      `${field} must be 1-64 characters of A-Z, a-z, 0-9 and -`,
    );
  }
  return value;
}

/** An id that may be left empty (the server then generates one). */
export function optionalId(field: string, value: string): string | undefined {
  return value === '' ? undefined : id(field, value);
}

/**
 * A list of ids of at most `max` entries (`min` 1 when an empty list is an error). Leave `max`
 * out when another rule bounds the list (e.g. a group's member cap).
 */
export function idList(field: string, values: string[], max = Infinity, min = 0): string[] {
  if (values.length < min) throw new InvalidArgumentError(field, `${field} must not be empty`);
  if (values.length > max) {
    throw new InvalidArgumentError(field, `${field} holds ${values.length} ids; at most ${max}`);
  }
  values.forEach((v, i) => id(`${field}[${i}]`, v));
  return values;
}

/** A string of min..max code points. */
export function text(field: string, value: string, min: number, max: number): string {
  const n = codePoints(value);
  if (n < min) {
    throw new InvalidArgumentError(
      field,
      min === 1 ? `${field} is required` : `${field} must be at least ${min} characters`,
    );
  }
  if (n > max) throw new InvalidArgumentError(field, `${field} must be at most ${max} characters`);
  return value;
}

/** A set enum value other than its _UNSPECIFIED zero. */
export function enumValue<E extends number>(field: string, value: E, allowed: readonly E[]): E {
  if (!allowed.includes(value)) {
    throw new InvalidArgumentError(
      field,
      value === 0 ? `${field} must be specified` : `${field} has an unknown value ${value}`,
    );
  }
  return value;
}

export function nonNegative(field: string, value: number): number {
  if (value < 0) throw new InvalidArgumentError(field, `${field} must not be negative`);
  return value;
}

/** page_size / limit: negative is an error, 0 the default, above max clamped. */
export function pageSize(field: string, value: number, defaultSize: number, max: number): number {
  nonNegative(field, value);
  if (value === 0) return defaultSize;
  return Math.min(value, max);
}

/** A canonical conversation id (`si_<a>_<b>` with a <= b, or `sg_<id>`). */
export function conversationId(field: string, value: string): ParsedConversationId {
  if (!value) throw new InvalidArgumentError(field, `${field} is required`);
  const parsed = parseConversationId(value);
  if (!parsed) {
    throw new InvalidArgumentError(
      field,
      `${field} must be si_<a>_<b> (a <= b) or sg_<group_id> with valid ids`,
    );
  }
  return parsed;
}

/** Opaque page tokens: base64url JSON of the keyset position. */
export function encodePageToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * Decodes a page token made by encodePageToken; `check` tells whether the decoded value has the
 * expected shape. '' means the first page (undefined).
 */
export function decodePageToken<T>(
  field: string,
  token: string,
  check: (value: unknown) => value is T,
): T | undefined {
  if (token === '') return undefined;
  let value: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error('not base64url');
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentError(field, `${field} is malformed`);
  }
  if (!check(value)) throw new InvalidArgumentError(field, `${field} is malformed`);
  return value;
}
