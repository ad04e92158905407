import { translateDbError } from '@im-repo/db';
import { messageService } from '@im-repo/proto/message';
import { createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
import { healthChecks, type MessageDeps } from './deps';
import { createMessageHandlers } from './message.handlers';

export { openMessageDeps } from './deps';
export type { MessageDeps } from './deps';

/** The message service's gRPC server, not yet listening. */
export function createServer(deps: MessageDeps): GrpcServer {
  return createGrpcServer({
    service: messageService,
    handlers: createMessageHandlers(deps.domain, {
      maxContentBytes: deps.config.message.max_content_bytes,
    }),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    healthIntervalMs: deps.config.server.health_interval_ms,
    translators: [translateDbError],
    tls: deps.config.tls,
    shutdownTimeoutMs: deps.config.server.shutdown_timeout_ms,
  });
}
