import { translateDbError } from '@im-repo/db';
import { messageService } from '@im-repo/proto/message';
import { configuredServerOptions, createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
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
      forgetting: deps.forgetting,
    }),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    translators: [translateDbError],
    ...configuredServerOptions(deps.config),
    // Called only by peers (API.md "Internal rpcs"); add every internal rpc here.
    internalRpcs: ['getConversationHeadsAt', 'forgetUser'],
  });
}
