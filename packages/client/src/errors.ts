import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from './gen/google/rpc/error_details';
import { Status } from './gen/google/rpc/status';

const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

/** What an im-repo error says, decoded from the gRPC status and its ErrorInfo detail. */
export interface DecodedError {
  /** The gRPC status code (e.g. 5 for NOT_FOUND). */
  code: number;
  /** The code's name as in grpc's status enum, e.g. NOT_FOUND. */
  codeName: string;
  /** The stable machine-readable reason (docs/errors.md), '' when the server sent none. */
  reason: string;
  /** The package of the service that answered, e.g. im.user.v1. */
  domain: string;
  /** E.g. `field` for INVALID_ARGUMENT: the request field at fault. */
  metadata: Record<string, string>;
  /** For humans; never parse it. */
  message: string;
}

function isServiceError(err: unknown): err is ServiceError {
  const e = err as ServiceError;
  return e instanceof Error && typeof e.code === 'number' && e.metadata instanceof Metadata;
}

/** The google.rpc.ErrorInfo carried in grpc-status-details-bin, if any. */
export function decodeErrorInfo(err: ServiceError): ErrorInfo | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return undefined;
  try {
    const detail = Status.decode(raw).details.find((d) => d.typeUrl === ERROR_INFO_TYPE);
    return detail ? ErrorInfo.decode(detail.value) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decodes an error thrown by a client call; undefined for anything that is not a gRPC error.
 * Errors made by the client itself (DEADLINE_EXCEEDED, UNAVAILABLE before any server answered)
 * have no reason.
 */
export function decodeError(err: unknown): DecodedError | undefined {
  if (!isServiceError(err)) return undefined;
  const info = decodeErrorInfo(err);
  return {
    code: err.code,
    codeName: GrpcStatus[err.code] ?? `CODE_${err.code}`,
    reason: info?.reason ?? '',
    domain: info?.domain ?? '',
    metadata: info?.metadata ?? {},
    message: err.details,
  };
}

/** Shorthand: the error's reason ('' when there is none or it is not a gRPC error). */
export function errorReason(err: unknown): string {
  return decodeError(err)?.reason ?? '';
}
