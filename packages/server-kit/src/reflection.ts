import { join } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoDir, type ServiceInfo } from '@im-repo/proto';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** Server reflection (v1 and v1alpha) for the service and grpc.health.v1. */
export function addReflection(server: Server, service: ServiceInfo): void {
  const definition = loadSync([join(protoDir, service.protoFile), healthProtoPath], {
    includeDirs: [protoDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  new ReflectionService(definition, {
    services: [service.name, 'grpc.health.v1.Health'],
  }).addToServer(server);
}
