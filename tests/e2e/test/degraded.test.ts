import { SERVICES, type ServiceName } from '@im-repo/config';
import { groupConversationId } from '@im-repo/proto';
import { ContentType, ConversationType } from '@im-repo/proto/message';
import { Platform } from '@im-repo/proto/presence';
import {
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  healthCheck,
  startRedisServer,
  type LocalRedis,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { Stack, type Overrides } from './stack';

const MYSQL_BACKED: ServiceName[] = ['user', 'group', 'message', 'conversation'];

describe('degraded mode: every service with Redis down (API.md v1.1 "Health and degraded mode")', function () {
  this.timeout(90_000);
  let env: TestEnvironment;
  let stack: Stack;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('degraded');
    // Port 1: nothing listens, so every Redis command fails at once, as in an outage.
    const noRedis = { redis: { port: 1, command_timeout_ms: 200 } };
    const overrides: Overrides = Object.fromEntries(SERVICES.map((s) => [s, noRedis]));
    stack = await Stack.start(env, overrides);
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('user, group, message and conversation stay SERVING; presence is NOT_SERVING', async () => {
    for (const s of MYSQL_BACKED) {
      expect(await healthCheck(stack.address(s)), s).to.equal('SERVING');
    }
    expect(await healthCheck(stack.address('presence'))).to.equal('NOT_SERVING');
  });

  it('every service exports dependency_up for the dependencies it uses, and only those', async () => {
    for (const s of MYSQL_BACKED) {
      const text = await stack.metrics(s);
      expect(text, s).to.include('dependency_up{dependency="mysql"} 1');
      expect(text, s).to.include('dependency_up{dependency="redis"} 0');
    }
    const presence = await stack.metrics('presence');
    expect(presence).to.include('dependency_up{dependency="redis"} 0');
    expect(presence).not.to.include('dependency="mysql"');
  });

  it('serves the whole flow from MySQL: register, group, send, pull, list; presence is UNAVAILABLE', async () => {
    const c = stack.clients;
    const ids = await stack.registerUsers(['a', 'b'].map((x) => `${x}-${run}`));
    const groupId = `g-${run}`;
    await c.group.createGroup({
      groupId,
      ownerId: ids[0]!,
      name: 'degraded',
      avatarUrl: '',
      intro: '',
      memberIds: [ids[1]!],
    });
    const { message } = await c.message.sendMessage({
      clientMsgId: `m-${run}`,
      senderId: ids[0]!,
      conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
      recipientId: groupId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from('hello without redis'),
    });
    expect(message!.seq).to.equal(1);
    const pulled = await c.message.pullMessages({
      userId: ids[1]!,
      conversationId: groupConversationId(groupId),
      beginSeq: 0,
      endSeq: 0,
      limit: 10,
      descending: false,
    });
    expect(pulled.messages.map((m) => m.seq)).to.deep.equal([1]);
    const { conversations, totalUnread } = await c.conversation.listConversations({
      userId: ids[1]!,
      pageSize: 50,
      pageToken: '',
    });
    expect(conversations.map((x) => x.conversationId)).to.deep.equal([
      groupConversationId(groupId),
    ]);
    expect(totalUnread).to.equal(1);
    await expectGrpcError(
      c.presence.heartbeat({
        userId: ids[0]!,
        deviceId: 'd1',
        platform: Platform.PLATFORM_WEB,
        ttlSeconds: 30,
      }),
      GrpcStatus.UNAVAILABLE,
    );
  });
});

describe('degraded mode: a Redis that answers but refuses (OOM, READONLY)', function () {
  this.timeout(90_000);
  let env: TestEnvironment;
  let redis: LocalRedis;
  let stack: Stack;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('refusing');
    redis = await startRedisServer();
    const own = { redis: { port: redis.port, command_timeout_ms: 1000 } };
    stack = await Stack.start(env, Object.fromEntries(SERVICES.map((s) => [s, own])));
  });
  after(async () => {
    await stack?.stop();
    await redis?.stop();
    await env?.teardown();
  });

  const heartbeat = (userId: string) =>
    stack.clients.presence.heartbeat({
      userId,
      deviceId: 'd1',
      platform: Platform.PLATFORM_WEB,
      ttlSeconds: 30,
    });

  /** The MySQL-backed path still works end to end: register, log in, read. */
  async function servedFromMysql(label: string) {
    const userId = `${label}-${run}`;
    await stack.clients.user.register({
      userId,
      username: `r_${userId.replace(/-/g, '_')}`,
      password: 'password-1',
      nickname: label,
      avatarUrl: '',
    });
    await stack.clients.user.login({
      username: `r_${userId.replace(/-/g, '_')}`,
      password: 'password-1',
    });
    expect((await stack.clients.user.getUser({ userId })).user!.nickname).to.equal(label);
  }

  for (const [name, refuse, restore] of [
    [
      'OOM (maxmemory reached, noeviction)',
      ['config', 'set', 'maxmemory', '1'],
      ['config', 'set', 'maxmemory', '0'],
    ],
    ['READONLY (a replica)', ['replicaof', '127.0.0.1', '1'], ['replicaof', 'no', 'one']],
  ] as const) {
    it(`${name}: presence is UNAVAILABLE (not INTERNAL), the others serve from MySQL`, async () => {
      await heartbeat(`p-${run}`);
      redis.cli('config', 'set', 'maxmemory-policy', 'noeviction');
      redis.cli(...refuse);
      try {
        await expectGrpcError(heartbeat(`p-${run}`), GrpcStatus.UNAVAILABLE, 'REDIS_UNAVAILABLE');
        await servedFromMysql(name.slice(0, 3).toLowerCase());
        for (const s of MYSQL_BACKED) {
          expect(await healthCheck(stack.address(s)), s).to.equal('SERVING');
        }
      } finally {
        redis.cli(...restore);
      }
      await heartbeat(`p-${run}`);
    });
  }
});
