/**
 * gRPC status codes, mirrored here so that domain code can name an outcome without depending on
 * a transport. Numbers are grpc's (see grpc/doc/statuscodes.md).
 */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

const CODE_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

/** The name go-grpc-prometheus puts in the grpc_code label (codes.Code.String()). */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

export type ErrorMetadata = Record<string, string>;

/**
 * An outcome the caller should see as-is: a gRPC code, a stable UPPER_SNAKE_CASE reason for
 * machines, and a message for humans that never holds secrets, SQL or stack traces.
 */
export class AppError extends Error {
  constructor(
    readonly code: Code,
    readonly reason: string,
    message: string,
    readonly metadata: ErrorMetadata = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends AppError {
  /** `field` is the request field at fault, as a path for nested ones (`records[0].seq`). */
  constructor(
    readonly field: string,
    message: string,
    reason = 'INVALID_ARGUMENT',
  ) {
    super(Code.INVALID_ARGUMENT, reason, message, { field });
  }
}

export class NotFoundError extends AppError {
  constructor(reason: string, message: string, metadata?: ErrorMetadata) {
    super(Code.NOT_FOUND, reason, message, metadata);
  }
}

export class AlreadyExistsError extends AppError {
  constructor(reason: string, message: string, metadata?: ErrorMetadata) {
    super(Code.ALREADY_EXISTS, reason, message, metadata);
  }
}

export class PermissionDeniedError extends AppError {
  constructor(reason: string, message: string, metadata?: ErrorMetadata) {
    super(Code.PERMISSION_DENIED, reason, message, metadata);
  }
}

export class FailedPreconditionError extends AppError {
  constructor(reason: string, message: string, metadata?: ErrorMetadata) {
    super(Code.FAILED_PRECONDITION, reason, message, metadata);
  }
}

export class UnauthenticatedError extends AppError {
  constructor(reason: string, message: string) {
    super(Code.UNAUTHENTICATED, reason, message);
  }
}

export class ResourceExhaustedError extends AppError {
  constructor(reason: string, message: string, metadata?: ErrorMetadata) {
    super(Code.RESOURCE_EXHAUSTED, reason, message, metadata);
  }
}

/** A dependency (MySQL, Redis, a peer service) cannot be reached; the caller may retry. */
export class UnavailableError extends AppError {
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(Code.UNAVAILABLE, reason, message, {}, options);
  }
}

export class DeadlineExceededError extends AppError {
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(Code.DEADLINE_EXCEEDED, reason, message, {}, options);
  }
}
