import { AppError, Code } from '@im-repo/errors';
import type { ServiceInfo } from '@im-repo/proto';
import { createLogger } from './logger';
import { createGrpcServer, type GrpcServer, type ServiceHandlers } from './server';

/**
 * A server for some rpcs of a service, the rest UNIMPLEMENTED: what a service's own tests stand
 * in for a peer (the real peers meet in tests/e2e). Same error mapping as the real servers.
 */
export function createStandInServer<D extends object>(
  service: ServiceInfo<D>,
  handlers: Partial<ServiceHandlers<D>>,
): GrpcServer {
  const all: Record<string, unknown> = {};
  for (const name of Object.keys(service.definition)) {
    all[name] =
      (handlers as Record<string, unknown>)[name] ??
      (async () => {
        throw new AppError(Code.UNIMPLEMENTED, 'UNIMPLEMENTED', `${name} is not stood in`);
      });
  }
  return createGrpcServer({
    service,
    handlers: all as ServiceHandlers<D>,
    logger: createLogger(`${service.name}-stand-in`, 'error'),
    shutdownTimeoutMs: 1000,
  });
}
