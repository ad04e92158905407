import { readFileSync } from 'node:fs';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { Config } from '@im-repo/config';

export type TlsConfig = Config['tls'];
/** The files of a TLS setup. */
export type TlsFiles = Pick<TlsConfig, 'cert' | 'key' | 'ca'>;

const read = (file: string) => (file ? readFileSync(file) : null);

/**
 * TLS when cert and key are set; mutual TLS (client certificates required and checked against
 * the CA) when the CA is set too; plaintext otherwise.
 */
export function serverCredentials(tls: TlsFiles): ServerCredentials {
  if (!tls.cert) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    read(tls.ca),
    [{ cert_chain: read(tls.cert)!, private_key: read(tls.key)! }],
    Boolean(tls.ca),
  );
}

/**
 * How this service dials its peers: TLS when it serves TLS itself, verifying peers against the
 * CA (or the system roots) and presenting its own certificate for mutual TLS.
 */
export function clientCredentials(tls: TlsFiles): ChannelCredentials {
  if (!tls.cert) return credentials.createInsecure();
  return credentials.createSsl(read(tls.ca), read(tls.key), read(tls.cert));
}
