import type { PeerCertificate } from 'node:tls';
import { PermissionDeniedError } from '@im-repo/errors';
import type { TlsConfig, TlsFiles } from './tls';

type Tls = TlsFiles & Partial<Pick<TlsConfig, 'internal_callers'>>;

/** The part of a grpc-js server call that knows the peer's certificate. */
export interface AuthenticatedCall {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}

/** Whether the server requires client certificates (mutual TLS): only then is a caller known. */
export const mutualTls = (tls: Tls | undefined): boolean => Boolean(tls?.cert && tls.ca);

/**
 * Who called, by certificate: the DNS names of its subjectAltName, else its CN. Empty without a
 * client certificate.
 */
export function callerIdentities(call: AuthenticatedCall): string[] {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (!cert) return [];
  const dns = (cert.subjectaltname ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
  if (dns.length > 0) return dns;
  const cn = cert.subject?.CN;
  return cn ? [cn].flat() : [];
}

/**
 * The internal-rpc rule (API.md v1.1 "Internal rpcs"): with mutual TLS on, an internal rpc is
 * accepted only from a certificate whose identity is listed in INTERNAL_CALLERS. Without mutual
 * TLS the caller is unknown and internal rpcs are open (the README says so). Returns the check
 * for one call, or undefined when there is nothing to check.
 */
export function internalCallerGuard(
  tls: Tls | undefined,
): ((call: AuthenticatedCall) => void) | undefined {
  if (!tls || !mutualTls(tls)) return undefined;
  const allowed = new Set(tls.internal_callers ?? []);
  return (call) => {
    const identities = callerIdentities(call);
    if (identities.some((id) => allowed.has(id))) return;
    throw new PermissionDeniedError(
      'CALLER_NOT_ALLOWED',
      'this rpc is internal: the caller is not one of the allowed services',
      { caller: identities.join(',') },
    );
  };
}
