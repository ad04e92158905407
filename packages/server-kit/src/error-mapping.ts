import {
  Metadata,
  type ServiceError,
  type status as GrpcStatus,
  type StatusObject,
} from '@grpc/grpc-js';
import { AppError, Code, codeName, UnavailableError } from '@im-repo/errors';
import { ErrorInfo, Status } from '@im-repo/proto/rpc';
import { decodeErrorInfo } from './peer-error';

/** Turns a library error into an AppError, or leaves it (undefined) for the next translator. */
export type ErrorTranslator = (err: unknown) => AppError | undefined;

const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

function isServiceError(err: unknown): err is ServiceError {
  const e = err as ServiceError;
  return e instanceof Error && typeof e.code === 'number' && e.metadata instanceof Metadata;
}

// A peer that cannot be reached or did not answer in time: nothing the caller did, and worth a
// retry. CANCELLED reaches a client only from the transport (the peer's server shutting down,
// a connection reset), never as the peer's considered answer.
const UNREACHABLE = new Set<number>([Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.CANCELLED]);

/**
 * The one rule for relaying a peer's error (API.md "ErrorInfo.domain ... also when it relays a
 * peer's answer"): the peer's code, reason and metadata pass through unchanged (mapError then
 * puts the relaying service's own package in ErrorInfo.domain); a peer that can't be reached
 * or times out becomes UNAVAILABLE PEER_UNAVAILABLE. Not a gRPC error: undefined.
 */
export function relayPeerError(err: unknown, peer?: string): AppError | undefined {
  if (err instanceof AppError) return err;
  if (!isServiceError(err)) return undefined;
  const code = err.code as number;
  if (UNREACHABLE.has(code)) {
    const what = peer ? `the ${peer} service is unavailable` : 'a dependency is unavailable';
    return new UnavailableError('PEER_UNAVAILABLE', what, { cause: err });
  }
  const info = decodeErrorInfo(err);
  return new AppError(
    code,
    info?.reason || codeName(code),
    err.details || codeName(code),
    info?.metadata ?? {},
    { cause: err },
  );
}

/** relayPeerError as the server's last translator: a raw peer error thrown by a handler. */
export const translatePeerError: ErrorTranslator = (err) => relayPeerError(err);

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
