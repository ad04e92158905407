export { itemsThatFit, MAX_ANSWER_BYTES } from './answer-size';
export { currentContext, outgoingMetadata, propagateContext, REQUEST_ID_HEADER } from './context';
export type { CallContext } from './context';
export { mapError, relayPeerError, translatePeerError } from './error-mapping';
export type { ErrorTranslator } from './error-mapping';
export { HealthMonitor } from './health';
export type { Dependency, HealthCheck, HealthChecks } from './health';
export { createLogger } from './logger';
export type { Logger } from './logger';
export { createMetrics, startMetricsServer } from './metrics';
export type { GrpcMetrics } from './metrics';
export { decodeErrorInfo, peerError } from './peer-error';
export { peerClientOptions } from './peers';
export type { PeerOptions } from './peers';
export { createPeerClient } from './peer-client';
export type { PeerClient } from './peer-client';
export { createServeContext, serve } from './serve';
export type { Running, ServeContext } from './serve';
export { createGrpcServer, preEncoded } from './server';
export { configuredServerOptions } from './server-options';
export { callerIdentities, internalCallerGuard, mutualTls } from './internal-callers';
export { createStandInServer } from './stand-in';
export type {
  GrpcServer,
  GrpcServerOptions,
  PreEncoded,
  ServiceHandlers,
  StreamHandler,
  UnaryHandler,
} from './server';
export { clientCredentials, serverCredentials } from './tls';
export type { TlsConfig, TlsFiles } from './tls';
export * as validate from './validate';
