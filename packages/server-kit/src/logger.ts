import winston from 'winston';

export type Logger = winston.Logger;

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
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
