import type { ServiceError } from '@grpc/grpc-js';
import { ErrorInfo, Status } from '@im-repo/proto/rpc';

export interface PeerErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** The google.rpc.ErrorInfo a peer attached to its error, if any. */
export function decodeErrorInfo(err: ServiceError): PeerErrorInfo | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return undefined;
  try {
    const status = Status.decode(raw);
    const detail = status.details.find(
      (d) => d.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo',
    );
    return detail ? ErrorInfo.decode(detail.value) : undefined;
  } catch {
    return undefined;
  }
}

/** The code and reason of a peer's error (reason '' when it sent none). */
export function peerError(err: unknown): { code: number; reason: string } | undefined {
  const e = err as ServiceError;
  if (typeof e?.code !== 'number' || !e.metadata) return undefined;
  return { code: e.code, reason: decodeErrorInfo(e)?.reason ?? '' };
}
