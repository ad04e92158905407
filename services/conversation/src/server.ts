import { translateDbError } from '@im-repo/db';
import { conversationService } from '@im-repo/proto/conversation';
import { configuredServerOptions, createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
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
    translators: [translateDbError],
    ...configuredServerOptions(deps.config),
    // Called only by peers (API.md "Internal rpcs"); add every internal rpc here.
    internalRpcs: [
      'recordMessages',
      'addParticipants',
      'removeParticipants',
      'forgetUser',
      'recordCleared',
    ],
  });
}
