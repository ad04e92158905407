import { createRedis, pingRedis, waitForRedis, type RedisClient } from '@im-repo/cache';
import type { Config } from '@im-repo/config';
import { openDatabase, pingDatabase, type Sequelize } from '@im-repo/db';
import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { createUserServiceClient } from '@im-repo/proto/user';
import {
  peerClientOptions,
  type GrpcMetrics,
  type Logger,
  type ServeContext,
} from '@im-repo/server-kit';
import { monotonicFactory } from 'ulid';
import { HeadCache } from './head-cache';
import { MessageDomain } from './message.domain';
import { createMessageMetrics, type MessageMetrics } from './message.metrics';
import { createGroupAccess, createUserDirectory } from './message.peers';
import { assertStorable, MessageRepository } from './message.repository';
import { migrations } from './migrations';
import { RecordOutbox } from './record-outbox';
import { RecordOutboxRepository } from './record-outbox.repository';
import { SendBatcher } from './send-batcher';

export interface MessageDeps {
  config: Config;
  logger: Logger;
  metrics: GrpcMetrics;
  messageMetrics: MessageMetrics;
  sequelize: Sequelize;
  redis: RedisClient;
  repository: MessageRepository;
  heads: HeadCache;
  batcher: SendBatcher;
  outbox: RecordOutbox;
  outboxRepository: RecordOutboxRepository;
  domain: MessageDomain;
  close(): Promise<void>;
}

// Keeps one batch's multi-row INSERT (content hex-escaped: twice its size) well under MariaDB's
// default 16 MiB max_allowed_packet; a single larger message still goes alone.
const BATCH_MAX_BYTES = 4 * 1024 * 1024;

/** Opens MySQL (migrated), Redis and the peers, wires the domain and starts the outbox drainer. */
export async function openMessageDeps({
  config,
  logger,
  metrics,
}: ServeContext): Promise<MessageDeps> {
  const sequelize = await openDatabase(config.db, 'message', { migrations });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined); // failures surface per command and in health
  await waitForRedis(redis, 2000);
  const onRedisError = rateLimited((op, error, suppressed) =>
    logger.warn('redis failed, served without it', { op, error, suppressed }),
  );

  const peers = peerClientOptions(config);
  const users = createUserServiceClient(config.peers.user, peers);
  const groups = createGroupServiceClient(config.peers.group, peers);
  const conversations = createConversationServiceClient(config.peers.conversation, peers);

  const messageMetrics = createMessageMetrics(metrics.registry);
  const repository = new MessageRepository(sequelize);
  const heads = new HeadCache(redis, repository, {
    ttlSeconds: config.cache.ttl_seconds,
    emptyTtlSeconds: config.cache.negative_ttl_seconds,
    registry: metrics.registry,
    onError: onRedisError,
  });
  const outboxRepository = new RecordOutboxRepository(sequelize);
  const outbox = new RecordOutbox(conversations, outboxRepository, {
    intervalMs: config.message.outbox_interval_ms,
    callTimeoutMs: config.peers.timeout_ms,
    logger,
    metrics: messageMetrics,
  });
  const batcher = new SendBatcher(
    {
      commit: (inputs, options) => repository.commitBatch(inputs, options),
      newId: monotonicFactory(),
      assertStorable,
      outboxDelayMs: () => outbox.outboxDelayMs(),
      async afterCommit(inserted, inline, duplicates) {
        // Newest message per conversation: the only one that can move a head.
        const newest = new Map<string, (typeof inserted)[number]>();
        for (const msg of [...inserted, ...duplicates]) {
          const seen = newest.get(msg.conversationId);
          if (!seen || seen.seq < msg.seq) newest.set(msg.conversationId, msg);
        }
        // Independent of each other; both land before the callers hear back.
        await Promise.all([
          heads.advance([...newest.values()]),
          inline && inserted.length > 0 ? outbox.deliverInline(inserted) : undefined,
        ]);
      },
      metrics: messageMetrics,
      logger,
    },
    {
      maxSize: config.message.batch_max_size,
      maxWaitMs: config.message.batch_max_wait_ms,
      maxBytes: BATCH_MAX_BYTES,
      // Leaves most of the pool to reads and the drainer; batches of one conversation queue
      // on its row lock anyway.
      maxInflight: Math.max(1, Math.min(8, Math.floor(config.db.pool_max / 3))),
    },
  );
  const domain = new MessageDomain(
    repository,
    heads,
    batcher,
    createUserDirectory(users),
    createGroupAccess(groups),
    {
      recallWindowSeconds: config.message.recall_window_seconds,
      onDuplicate: () => messageMetrics.duplicates.inc(),
    },
  );
  outbox.start();

  return {
    config,
    logger,
    metrics,
    messageMetrics,
    sequelize,
    redis,
    repository,
    heads,
    batcher,
    outbox,
    outboxRepository,
    domain,
    async close() {
      await batcher.close();
      await outbox.stop();
      heads.close();
      users.close();
      groups.close();
      conversations.close();
      redis.disconnect();
      await sequelize.close();
    },
  };
}

/**
 * At most one log line per op and second: during an outage every call fails over to MySQL, and
 * cache_requests_total already counts each one.
 */
function rateLimited(log: (op: string, error: string, suppressed: number) => void) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (err: unknown, op: string) => {
    const now = Date.now();
    const seen = last.get(op);
    if (seen && now - seen.at < 1000) {
      seen.suppressed++;
      return;
    }
    log(op, (err as Error).message, seen?.suppressed ?? 0);
    last.set(op, { at: now, suppressed: 0 });
  };
}

export const healthChecks = (deps: Pick<MessageDeps, 'sequelize' | 'redis'>) => ({
  mysql: () => pingDatabase(deps.sequelize),
  redis: () => pingRedis(deps.redis),
});
