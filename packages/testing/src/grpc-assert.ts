import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo, Status } from '@im-repo/proto/rpc';

export interface DecodedError {
  code: number;
  codeName: string;
  message: string;
  reason?: string;
  domain?: string;
  metadata: Record<string, string>;
}

/** Reads code, message and the google.rpc.ErrorInfo detail of a failed call. */
export function decodeGrpcError(err: unknown): DecodedError {
  const e = err as ServiceError;
  if (typeof e?.code !== 'number') throw err;
  const decoded: DecodedError = {
    code: e.code,
    codeName: GrpcStatus[e.code] ?? String(e.code),
    message: e.details,
    metadata: {},
  };
  const raw = (e.metadata ?? new Metadata()).get('grpc-status-details-bin')[0];
  if (raw) {
    const status = Status.decode(raw as Buffer);
    for (const detail of status.details) {
      if (detail.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo') {
        const info = ErrorInfo.decode(detail.value);
        decoded.reason = info.reason;
        decoded.domain = info.domain;
        decoded.metadata = info.metadata;
      }
    }
  }
  return decoded;
}

/**
 * Awaits a call that must fail, and returns its decoded error after checking the code (and the
 * reason, when given). Fails the test if the call succeeds.
 */
export async function expectGrpcError(
  call: Promise<unknown>,
  code: GrpcStatus,
  reason?: string,
): Promise<DecodedError> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    const decoded = decodeGrpcError(err);
    if (decoded.code !== code || (reason !== undefined && decoded.reason !== reason)) {
      throw new Error(
        `expected ${GrpcStatus[code]}${reason ? ` (${reason})` : ''}, got ${decoded.codeName} (${decoded.reason}): ${decoded.message}`,
        { cause: err },
      );
    }
    return decoded;
  }
  throw new Error(
    `expected ${GrpcStatus[code]}, but the call succeeded: ${JSON.stringify(result)}`,
  );
}

export { GrpcStatus };
