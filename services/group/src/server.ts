import { translateDbError } from '@im-repo/db';
import { groupService } from '@im-repo/proto/group';
import { configuredServerOptions, createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
import { healthChecks, type GroupDeps } from './deps';
import { createGroupHandlers } from './group.handlers';

export { openGroupDeps } from './deps';
export type { GroupDeps } from './deps';

/** The group service's gRPC server, not yet listening. */
export function createServer(deps: GroupDeps): GrpcServer {
  return createGrpcServer({
    service: groupService,
    handlers: createGroupHandlers(deps.domain),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    translators: [translateDbError],
    ...configuredServerOptions(deps.config),
    // Called only by peers (API.md "Internal rpcs"); add every internal rpc here.
    internalRpcs: ['checkSendPermission', 'checkSendPermissions', 'forgetUser'],
  });
}
