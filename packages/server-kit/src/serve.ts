import { ConfigError, loadConfig, type Config, type ServiceName } from '@im-repo/config';
import { createLogger, type Logger } from './logger';
import { createMetrics, startMetricsServer, type GrpcMetrics } from './metrics';
import type { GrpcServer } from './server';
import { flushTracing } from './tracing-state';

export interface ServeContext {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
}

/** Logger and metrics for a service built outside serve() (tests, tools). */
export function createServeContext(config: Config): ServeContext {
  return {
    config,
    logger: createLogger(config.service, config.log.level),
    metrics: createMetrics(),
  };
}

export interface Running {
  server: GrpcServer;
  /** Closes pools and background work after the server stopped. */
  close(): Promise<void>;
}

/**
 * A service's whole main(): load config, build the service, serve gRPC and /metrics, and on
 * SIGTERM/SIGINT drain in-flight calls, close pools and exit 0. A bad config or a failed start
 * exits 1 with the reason on stderr.
 */
export async function serve(
  service: ServiceName,
  start: (ctx: ServeContext) => Promise<Running>,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(service);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const ctx = createServeContext(config);
  const { logger, metrics } = ctx;
  exitOnFatalErrors(logger);
  try {
    const running = await start(ctx);
    const port = await running.server.listen(config.server.port, config.server.host);
    const metricsServer = await startMetricsServer(
      metrics.registry,
      config.server.metrics_port,
      config.server.host,
    );
    logger.info('listening', { grpc_port: port, metrics_port: metricsServer.port });

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping', { signal });
      // The metrics port first: a replacement on this host can bind it while this one drains.
      await metricsServer.close();
      await running.server.shutdown();
      await running.close();
      await flushTracing();
      logger.info('stopped');
      // Let winston flush its last lines.
      setImmediate(() => process.exit(0));
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  } catch (err) {
    logger.error('start failed', { error: err instanceof Error ? err.message : String(err) });
    setImmediate(() => process.exit(1));
  }
}

/**
 * An uncaught exception or unhandled rejection leaves the process in an unknown state: log it as
 * one JSON line (with the stack) like every other line, then exit 1 so the supervisor restarts
 * it. The exit waits for the last spans and for winston to write its queued lines (at most 3 s).
 */
function exitOnFatalErrors(logger: Logger): void {
  let exiting = false;
  const fatal = (kind: string, reason: unknown) => {
    if (exiting) return;
    exiting = true;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    logger.error(kind, { error: err.message, stack: err.stack });
    setTimeout(() => process.exit(1), 3000).unref();
    void flushTracing(2000).then(() => {
      logger.on('finish', () => process.exit(1));
      logger.end();
    });
  };
  process.on('uncaughtException', (err) => fatal('uncaught exception', err));
  process.on('unhandledRejection', (reason) => fatal('unhandled rejection', reason));
}
