// The OpenTelemetry SDK itself, loaded by tracing.ts only when tracing is on: loading it costs
// about a second and 12 MB of heap, which a service that does not trace should not pay.
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { NodeSDK } from '@opentelemetry/sdk-node';

/** Starts the SDK: gRPC server and client spans to the OTLP endpoint; returns its shutdown. */
export function startSdk(
  serviceName: string,
  endpoint: string,
  tracesEndpoint: string | undefined,
): () => Promise<void> {
  const sdk = new NodeSDK({
    serviceName,
    traceExporter: exporter(endpoint, tracesEndpoint),
    instrumentations: [new GrpcInstrumentation()],
    // Spans only: the services' metrics are Prometheus (/metrics) and their logs JSON lines.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return () => sdk.shutdown();
}

function exporter(endpoint: string, tracesEndpoint: string | undefined) {
  const protocol =
    process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    'http/protobuf';
  if (protocol === 'grpc') return new GrpcExporter({ url: tracesEndpoint || endpoint });
  // Over HTTP the base endpoint gets the signal path; the signal-specific one is used as is.
  const url = tracesEndpoint || `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  return protocol === 'http/json' ? new JsonExporter({ url }) : new ProtoExporter({ url });
}
