import {
  Metadata,
  type ServiceError,
  type status as GrpcStatus,
  type StatusObject,
} from '@grpc/grpc-js';
import { AppError, Code, UnavailableError } from '@im-repo/errors';
import { ErrorInfo, Status } from '@im-repo/proto/rpc';
import { decodeErrorInfo } from './peer-error';

/** Turns a library error into an AppError, or leaves it (undefined) for the next translator. */
export type ErrorTranslator = (err: unknown) => AppError | undefined;

const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

function isServiceError(err: unknown): err is ServiceError {
  const e = err as ServiceError;
  return e instanceof Error && typeof e.code === 'number' && e.metadata instanceof Metadata;
}

/**
 * A peer's error relayed as ours: same code and reason (ErrorInfo.domain becomes the relaying
 * service's); a peer that cannot be reached is UNAVAILABLE.
 */
export function translatePeerError(err: unknown): AppError | undefined {
  if (!isServiceError(err)) return undefined;
  const code = err.code as number;
  if (code === Code.UNAVAILABLE || code === Code.DEADLINE_EXCEEDED) {
    return new UnavailableError('PEER_UNAVAILABLE', 'a dependency is unavailable', { cause: err });
  }
  if (code === Code.CANCELLED) {
    return new AppError(Code.CANCELLED, 'CANCELLED', 'the call was cancelled');
  }
  const info = decodeErrorInfo(err);
  if (!info || code === Code.INTERNAL || code === Code.UNKNOWN) return undefined;
  return new AppError(code, info.reason, err.details, info.metadata);
}

export interface MappedError {
  status: Partial<StatusObject> & { code: GrpcStatus; details: string };
  /** Set when the error was not a caller-visible one: log it, never send it. */
  internal?: unknown;
}

/**
 * The one place errors become gRPC statuses: AppError keeps its code and reason; translators get
 * a chance at library errors; anything else is INTERNAL with a generic message.
 */
export function mapError(
  err: unknown,
  domain: string,
  translators: ErrorTranslator[],
): MappedError {
  let appError: AppError | undefined = err instanceof AppError ? err : undefined;
  for (const translate of translators) {
    if (appError) break;
    appError = translate(err);
  }
  const internal = appError ? undefined : err;
  appError ??= new AppError(Code.INTERNAL, 'INTERNAL', 'internal error');
  const info = ErrorInfo.encode({
    reason: appError.reason,
    domain,
    metadata: appError.metadata,
  }).finish();
  const details = Status.encode({
    code: appError.code,
    message: appError.message,
    details: [{ typeUrl: ERROR_INFO_TYPE, value: Buffer.from(info) }],
  }).finish();
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return {
    status: { code: appError.code as number as GrpcStatus, details: appError.message, metadata },
    internal,
  };
}
