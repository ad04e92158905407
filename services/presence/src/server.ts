import { translateRedisError } from '@im-repo/cache';
import { presenceService } from '@im-repo/proto/presence';
import { configuredServerOptions, createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
import { healthChecks, type PresenceDeps } from './deps';
import { createPresenceHandlers } from './presence.handlers';

export { openPresenceDeps } from './deps';
export type { PresenceDeps } from './deps';

/** The presence service's gRPC server, not yet listening. */
export function createServer(deps: PresenceDeps): GrpcServer {
  return createGrpcServer({
    service: presenceService,
    handlers: createPresenceHandlers(deps.domain),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    translators: [translateRedisError],
    ...configuredServerOptions(deps.config),
    // Called only by peers (API.md "Internal rpcs"); add every internal rpc here.
    internalRpcs: ['forgetUser'],
  });
}
