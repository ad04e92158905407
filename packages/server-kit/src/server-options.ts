import type { Config } from '@im-repo/config';
import type { GrpcServerOptions } from './server';

/** The server settings every service takes from its config, in one place. */
export function configuredServerOptions(
  config: Config,
): Pick<GrpcServerOptions<object>, 'tls' | 'healthIntervalMs' | 'shutdownTimeoutMs' | 'keepalive'> {
  return {
    tls: config.tls,
    healthIntervalMs: config.server.health_interval_ms,
    shutdownTimeoutMs: config.server.shutdown_timeout_ms,
    keepalive: {
      timeMs: config.server.keepalive_time_ms,
      timeoutMs: config.server.keepalive_timeout_ms,
    },
  };
}
