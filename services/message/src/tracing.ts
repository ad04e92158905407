// Started before anything loads @grpc/grpc-js (OpenTelemetry patches it as it loads), so this
// is main.ts's first import. Off unless an OTLP endpoint is configured.
import { startTracing } from '@im-repo/server-kit/tracing';

startTracing('message');
