import type { Config } from '@im-repo/config';
import type { ClientOptions } from '@im-repo/proto';
import { outgoingMetadata, propagateContext } from './context';
import { clientCredentials } from './tls';

/** Peer client options, plus whether calls pass on the request id of the call being served. */
export type PeerOptions = Partial<ClientOptions> & {
  /**
   * Default true. false: no request id is passed on, and (if no other client of the process
   * passes one) the process never enters the context store, so its calls skip Node 20's
   * promise hooks. For a process whose peer calls are rare and off its hot rpcs.
   */
  requestIds?: boolean;
};

/**
 * How every service calls its peers: the configured deadline, TLS like its own server, and the
 * request id of the call being served passed on. Use with the typed factories of
 * @im-repo/proto, e.g. createUserServiceClient(config.peers.user, peerClientOptions(config)).
 */
export function peerClientOptions(config: Config, extra: PeerOptions = {}): ClientOptions {
  const { requestIds = true, ...options } = extra;
  if (requestIds) propagateContext();
  return {
    credentials: clientCredentials(config.tls),
    timeoutMs: config.peers.timeout_ms,
    ...(requestIds ? { metadata: outgoingMetadata } : {}),
    ...options,
  };
}
