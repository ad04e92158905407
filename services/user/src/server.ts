import { translateDbError } from '@im-repo/db';
import { userService } from '@im-repo/proto/user';
import { configuredServerOptions, createGrpcServer, type GrpcServer } from '@im-repo/server-kit';
import { healthChecks, type UserDeps } from './deps';
import { createUserHandlers } from './user.handlers';

export { openUserDeps } from './deps';
export type { UserDeps } from './deps';

/** The user service's gRPC server, not yet listening. */
export function createServer(deps: UserDeps): GrpcServer {
  return createGrpcServer({
    service: userService,
    handlers: createUserHandlers(deps.domain),
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: healthChecks(deps),
    translators: [translateDbError],
    ...configuredServerOptions(deps.config),
  });
}
