export { createTestEnvironment, deleteRedisPrefix } from './environment';
export type { TestEnvironment } from './environment';
export { decodeGrpcError, expectGrpcError, GrpcStatus } from './grpc-assert';
export type { DecodedError } from './grpc-assert';
export { waitFor } from './wait';
export { startInProcess } from './in-process';
export type { InProcess } from './in-process';
export { startRedisCluster } from './redis-cluster';
export type { LocalRedisCluster } from './redis-cluster';
