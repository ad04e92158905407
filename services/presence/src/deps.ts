import { createRedis, pingRedis, waitForRedis, type RedisClient } from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import type { GrpcMetrics, HealthChecks, Logger, ServeContext } from '@im-repo/server-kit';
import { Gauge } from 'prom-client';
import { ExpirySweeper } from './expiry-sweeper';
import { eventsChannel } from './presence.cache-keys';
import { PresenceDomain } from './presence.domain';
import { PresenceRepository } from './presence.repository';
import { StatusHub } from './status-hub';

export interface PresenceDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  redis: RedisClient;
  /** The dedicated pub/sub connection of this instance. */
  subscriber: RedisClient;
  hub: StatusHub;
  sweeper: ExpirySweeper;
  domain: PresenceDomain;
  close(): Promise<void>;
}

/**
 * Opens Redis (commands and one subscriber connection), starts the expiry sweeper and wires
 * the domain: everything main and tests share. Presence keeps no MySQL state. Start-up does not
 * wait for Redis beyond a short bound: calls fail UNAVAILABLE until it is reachable.
 */
export async function openPresenceDeps({
  config,
  logger,
  metrics,
}: ServeContext): Promise<PresenceDeps> {
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  // The hub subscribes on every (re)connect itself, after the streams it had were ended.
  const subscriber = createRedis(config.redis, { autoResubscribe: false });
  subscriber.on('error', () => undefined);
  const channel = eventsChannel(config.redis.key_prefix);
  const repo = new PresenceRepository(redis, channel, config.presence.last_seen_ttl_seconds * 1000);
  const hub = new StatusHub(subscriber, channel, logger);
  await Promise.all([
    waitForRedis(redis, 2000),
    waitForRedis(subscriber, 2000).then(() => hub.ensureSubscribed()),
  ]);
  const sweeper = new ExpirySweeper(
    repo,
    config.presence.sweep_interval_ms,
    logger,
    metrics.registry,
  );
  sweeper.start();
  // The newest deps on a registry own the gauge (tests may open several on one context).
  metrics.registry.removeSingleMetric('presence_watch_streams');
  new Gauge({
    name: 'presence_watch_streams',
    help: 'Open WatchStatus streams on this instance',
    registers: [metrics.registry],
    collect() {
      this.set(hub.sessionCount);
    },
  });
  const domain = new PresenceDomain(repo, hub, {
    defaultTtlSeconds: config.presence.default_ttl_seconds,
    maxDevices: config.presence.max_devices_per_user,
    maxWatchStreams: config.presence.max_watch_streams,
  });
  return {
    config,
    logger,
    metrics,
    redis,
    subscriber,
    hub,
    sweeper,
    domain,
    async close() {
      await sweeper.stop();
      hub.close();
      redis.disconnect();
    },
  };
}

/** Redis is presence's store: without it (or without the subscription WatchStatus needs), down. */
export const healthChecks = (deps: Pick<PresenceDeps, 'redis' | 'hub'>): HealthChecks => ({
  redis: {
    check: async () => (await pingRedis(deps.redis)) && (await deps.hub.ensureSubscribed()),
    required: true,
  },
});
