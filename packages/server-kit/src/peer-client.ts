import type { Config, ServiceName } from '@im-repo/config';
import {
  conversationService,
  createClient,
  groupService,
  messageService,
  presenceService,
  userService,
  type PromiseClient,
} from '@im-repo/proto';
import { relayPeerError } from './error-mapping';
import { peerClientOptions, type PeerOptions } from './peers';

const SERVICES = {
  user: userService,
  group: groupService,
  message: messageService,
  conversation: conversationService,
  presence: presenceService,
} as const;

type Definition<S extends ServiceName> = (typeof SERVICES)[S]['definition'];

/**
 * A typed client of a peer service whose calls fail only with AppErrors, by the one relay rule
 * (relayPeerError): the peer's code and reason as they are, an unreachable or slow peer as
 * UNAVAILABLE. Adapters built on it see no gRPC errors, and every service relays alike.
 */
export type PeerClient<S extends ServiceName> = PromiseClient<Definition<S>>;

/**
 * The one way a service calls a peer: the address from config.peers, the configured deadline,
 * TLS like its own server, the request id passed on, and errors relayed by the one rule.
 */
export function createPeerClient<S extends ServiceName>(
  config: Config,
  peer: S,
  extra: PeerOptions = {},
): PeerClient<S> {
  const service = SERVICES[peer];
  const client = createClient(
    service as unknown as Parameters<typeof createClient<Definition<S>>>[0],
    config.peers[peer],
    peerClientOptions(config, extra),
  ) as Record<string, unknown>;
  for (const [name, method] of Object.entries(service.definition)) {
    if ((method as { responseStream: boolean }).responseStream) continue;
    const call = client[name] as (...args: unknown[]) => Promise<unknown>;
    client[name] = (...args: unknown[]) =>
      call(...args).catch((err: unknown) => {
        throw relayPeerError(err, peer) ?? err;
      });
  }
  return client as unknown as PeerClient<S>;
}
