// OpenTelemetry for the gRPC server and client calls of a service. It patches @grpc/grpc-js
// when that module is loaded, so a service starts it before anything requires grpc-js: its
// src/tracing.ts calls startTracing('<name>') and is the first import of its main.ts. This
// module imports neither grpc-js nor the rest of server-kit for that reason, and loads the SDK
// (tracing-sdk.ts) only when tracing is on.
import { createRequire } from 'node:module';
import { loadConfig, type ServiceName } from '@im-repo/config';
import { setTracingShutdown } from './tracing-state';

/**
 * Starts tracing when an OTLP endpoint is configured (tracing.otlp_endpoint, env
 * OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); does nothing otherwise.
 * Server and client spans of every gRPC call; the W3C traceparent header carries the trace to
 * peers. The exporter speaks OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, http/json
 * or grpc); the other OTEL_* variables (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...) apply as
 * the OpenTelemetry SDK defines them. Returns whether tracing is on.
 */
export function startTracing(service: ServiceName): boolean {
  let endpoint: string;
  try {
    endpoint = loadConfig(service).tracing.otlp_endpoint;
  } catch {
    // An invalid config stops the service in serve(), with the reason; not here.
    return false;
  }
  const tracesEndpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!endpoint && !tracesEndpoint) return false;

  // Synchronously: the instrumentation must be in place before the caller's next import.
  const load = createRequire(__filename);
  const { startSdk } = load('./tracing-sdk') as typeof import('./tracing-sdk');
  const serviceName = process.env.OTEL_SERVICE_NAME || `${service}-service`;
  setTracingShutdown(startSdk(serviceName, endpoint, tracesEndpoint));
  return true;
}
