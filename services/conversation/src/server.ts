import { translateDbError } from '@im-repo/db';
import { conversationService } from '@im-repo/proto/conversation';
import { createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
import { createConversationHandlers } from './conversation.handlers';
import { healthChecks, type ConversationDeps } from './deps';

export { openConversationDeps } from './deps';
export type { ConversationDeps } from './deps';

/** The conversation service's gRPC server, not yet listening. */
export function createServer(deps: ConversationDeps): GrpcServer {
  return createGrpcServer({
    service: conversationService,
    handlers: createConversationHandlers(deps.domain),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    healthIntervalMs: deps.config.server.health_interval_ms,
    translators: [translateDbError],
    tls: deps.config.tls,
    shutdownTimeoutMs: deps.config.server.shutdown_timeout_ms,
  });
}
