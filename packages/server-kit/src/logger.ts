import { trace } from '@opentelemetry/api';
import winston from 'winston';

export type Logger = winston.Logger;

/**
 * trace_id and span_id of the span current where the line is logged (the call being served),
 * so a log line leads to its trace. Nothing is added while tracing is off.
 */
const traceIds = winston.format((info) => {
  const span = trace.getActiveSpan()?.spanContext();
  if (span && trace.isSpanContextValid(span)) {
    info.trace_id = span.traceId;
    info.span_id = span.spanId;
  }
  return info;
});

/**
 * JSON lines on stdout with the service name on each. Callers log ids, codes and durations,
 * never passwords, hashes or message content.
 */
export function createLogger(service: string, level: string): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(
      winston.format.timestamp(),
      traceIds(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
