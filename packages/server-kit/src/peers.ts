import type { Config } from '@im-repo/config';
import type { ClientOptions } from '@im-repo/proto';
import { outgoingMetadata, propagateContext } from './context';
import { clientCredentials } from './tls';

/**
 * How every service calls its peers: the configured deadline, TLS like its own server, and the
 * request id of the call being served passed on. Use with the typed factories of
 * @im-repo/proto, e.g. createUserServiceClient(config.peers.user, peerClientOptions(config)).
 */
export function peerClientOptions(
  config: Config,
  extra: Partial<ClientOptions> = {},
): ClientOptions {
  propagateContext();
  return {
    credentials: clientCredentials(config.tls),
    timeoutMs: config.peers.timeout_ms,
    metadata: outgoingMetadata,
    ...extra,
  };
}
