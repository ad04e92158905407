import { eventOutbox, EVENTS_TOPIC, openEvents } from '@im-repo/events';
import {
  cacheErrorLog,
  createRedis,
  pingRedis,
  waitForRedis,
  type RedisClient,
} from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import { openDatabase, pingDatabase, type Sequelize } from '@im-repo/db';
import {
  createPeerClient,
  type GrpcMetrics,
  type HealthChecks,
  type Logger,
  type PeerClient,
  type ServeContext,
} from '@im-repo/server-kit';
import { ConversationDomain } from './conversation.domain';
import { ConversationRepository } from './conversation.repository';
import { ListCursorStore } from './list-cursor.store';
import { MessagePeer } from './message.peer';
import { migrations } from './migrations';
import { CONVERSATION_MODELS } from './conversation.models';

export interface ConversationDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  sequelize: Sequelize;
  redis: RedisClient;
  messageClient: PeerClient<'message'>;
  domain: ConversationDomain;
  close(): Promise<void>;
}

/**
 * Opens MySQL (migrated), Redis and the message service client, and wires the domain:
 * everything main and tests share.
 */
export async function openConversationDeps({
  config,
  logger,
  metrics,
}: ServeContext): Promise<ConversationDeps> {
  const sequelize = await openDatabase(config.db, 'conversation', {
    migrations,
    models: CONVERSATION_MODELS,
  });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const messageClient = createPeerClient(config, 'message');
  const cursors = new ListCursorStore(redis, {
    ttlSeconds: config.conversation.list_cursor_ttl_seconds,
    registry: metrics.registry,
    onError: cacheErrorLog(logger, 'redis failed, list paged by keyset'),
  });
  // conversation_outbox holds only change events: without them no outbox (and no drainer) runs.
  const events = await openEvents(config, 'conversation', logger, metrics.registry);
  const outbox =
    events && eventOutbox(sequelize, 'conversation_outbox', { logger, registry: metrics.registry });
  if (events && outbox) {
    outbox.register(EVENTS_TOPIC, events.handler);
    outbox.start();
  }
  const domain = new ConversationDomain(
    new ConversationRepository(sequelize),
    new MessagePeer(messageClient),
    cursors,
    undefined,
    outbox,
  );
  return {
    config,
    logger,
    metrics,
    sequelize,
    redis,
    messageClient,
    domain,
    async close() {
      await outbox?.stop();
      await events?.close();
      messageClient.close();
      redis.disconnect();
      await sequelize.close();
    },
  };
}

/** MySQL is the store; Redis only a cache this service serves around (degraded, not down). */
export const healthChecks = (
  deps: Pick<ConversationDeps, 'sequelize' | 'redis'>,
): HealthChecks => ({
  mysql: { check: () => pingDatabase(deps.sequelize), required: true },
  redis: { check: () => pingRedis(deps.redis), required: false },
});
