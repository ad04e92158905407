import { type ServiceName } from '@im-repo/config';
import {
  createServer as createConversationServer,
  openConversationDeps,
} from '@im-repo/conversation-service';
import { AppError, Code, FailedPreconditionError, ResourceExhaustedError } from '@im-repo/errors';
import { createServer as createGroupServer, openGroupDeps } from '@im-repo/group-service';
import { createServer as createMessageServer, openMessageDeps } from '@im-repo/message-service';
import { createConversationServiceClient, conversationService } from '@im-repo/proto/conversation';
import { createGroupServiceClient, groupService, GroupRole } from '@im-repo/proto/group';
import {
  ContentType,
  ConversationType,
  createMessageServiceClient,
  messageService,
} from '@im-repo/proto/message';
import { userService } from '@im-repo/proto/user';
import { createServeContext, createStandInServer, type GrpcServer } from '@im-repo/server-kit';
import {
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  startInProcess,
  TEST_CLIENT_TIMEOUT_MS,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';

/** What the programmable peer does on its next calls. */
type Behaviour = 'ok' | 'overloaded' | 'dismissed' | 'cancelled' | 'slow';

const PEER_TIMEOUT_MS = 1000;

function act(behaviour: Behaviour): Promise<void> {
  switch (behaviour) {
    case 'overloaded':
      throw new ResourceExhaustedError('OVERLOADED', 'peer overloaded', { queued: '7' });
    case 'dismissed':
      throw new FailedPreconditionError('GROUP_DISMISSED', 'the group is dismissed');
    case 'cancelled':
      throw new AppError(Code.CANCELLED, 'CANCELLED', 'cancelled by the peer');
    case 'slow':
      return new Promise((r) => setTimeout(r, PEER_TIMEOUT_MS * 3));
    default:
      return Promise.resolve();
  }
}

/**
 * The one relay rule (API.md: ErrorInfo.domain is the relaying service's, also when it relays
 * a peer's answer), through each real service that calls a peer: message -> group, conversation
 * -> message, group -> user. The peer is a stand-in told how to fail.
 */
describe("relaying a peer's error: one rule in every service", function () {
  this.timeout(60_000);
  let env: TestEnvironment;
  let behaviour: Behaviour = 'ok';
  const standIns: GrpcServer[] = [];
  const stops: (() => Promise<void>)[] = [];
  const peers = {} as Record<ServiceName, string>;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('relay');
    const servers: [ServiceName, GrpcServer][] = [
      [
        'user',
        createStandInServer(userService, {
          batchGetUsers: async (req) => {
            await act(behaviour);
            return {
              users: req.userIds.map((userId) => ({
                userId,
                username: userId,
                nickname: '',
                avatarUrl: '',
              })),
            };
          },
        }),
      ],
      [
        'group',
        createStandInServer(groupService, {
          checkSendPermissions: async (req) => {
            await act(behaviour);
            return {
              results: req.userIds.map((userId) => ({ userId, role: GroupRole.GROUP_ROLE_MEMBER })),
            };
          },
        }),
      ],
      [
        'message',
        createStandInServer(messageService, {
          getConversationHeads: async () => {
            await act(behaviour);
            return { heads: [], maxSeqs: {} };
          },
          getMaxSeqs: async () => {
            await act(behaviour);
            return { maxSeqs: {} };
          },
        }),
      ],
      [
        'conversation',
        createStandInServer(conversationService, {
          recordMessages: async () => ({}),
          addParticipants: async () => ({}),
        }),
      ],
    ];
    for (const [name, server] of servers) {
      standIns.push(server);
      peers[name] = `127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
    }
  });
  after(async () => {
    for (const stop of stops) await stop();
    for (const s of standIns) await s.shutdown();
    await env?.teardown();
  });

  async function start<D extends { close(): Promise<void> }>(
    service: ServiceName,
    open: (ctx: ReturnType<typeof createServeContext>) => Promise<D>,
    create: (deps: D) => GrpcServer,
  ): Promise<string> {
    const ctx = createServeContext(
      env.config(service, {
        peers: { ...peers, timeout_ms: PEER_TIMEOUT_MS },
        message: { outbox_interval_ms: 60_000 },
      }),
    );
    const running = await startInProcess(() => open(ctx), create);
    stops.push(() => running.stop());
    return running.address;
  }

  const opts = { timeoutMs: TEST_CLIENT_TIMEOUT_MS, maxAttempts: 1 };

  /** Each failure of the peer, and what the caller of the relaying service must see. */
  async function expectRule(call: () => Promise<unknown>, domain: string) {
    behaviour = 'overloaded';
    const overloaded = await expectGrpcError(call(), GrpcStatus.RESOURCE_EXHAUSTED, 'OVERLOADED');
    expect(overloaded.domain).to.equal(domain);
    expect(overloaded.metadata).to.deep.equal({ queued: '7' });
    behaviour = 'dismissed';
    const dismissed = await expectGrpcError(
      call(),
      GrpcStatus.FAILED_PRECONDITION,
      'GROUP_DISMISSED',
    );
    expect(dismissed.domain).to.equal(domain);
    for (const unreachable of ['cancelled', 'slow'] as const) {
      behaviour = unreachable;
      const err = await expectGrpcError(call(), GrpcStatus.UNAVAILABLE, 'PEER_UNAVAILABLE');
      expect(err.domain, unreachable).to.equal(domain);
    }
    behaviour = 'ok';
    await call();
  }

  it('message relays the group service (CheckSendPermissions on a group send)', async () => {
    const address = await start('message', openMessageDeps, createMessageServer);
    const client = createMessageServiceClient(address, opts);
    let n = 0;
    try {
      await expectRule(
        () =>
          client.sendMessage({
            clientMsgId: `m-${run}-${n++}`,
            senderId: `s-${run}`,
            conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
            recipientId: `g-${run}`,
            contentType: ContentType.CONTENT_TYPE_TEXT,
            content: Buffer.from('x'),
          }),
        'im.message.v1',
      );
    } finally {
      client.close();
    }
  });

  it('conversation relays the message service (heads of the list)', async () => {
    const address = await start('conversation', openConversationDeps, createConversationServer);
    const client = createConversationServiceClient(address, opts);
    const userId = `u-${run}`;
    try {
      await client.addParticipants({
        conversationId: `sg_g-${run}`,
        conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
        peerId: `g-${run}`,
        userIds: [userId],
      });
      await expectRule(
        () => client.listConversations({ userId, pageSize: 10, pageToken: '' }),
        'im.conversation.v1',
      );
    } finally {
      client.close();
    }
  });

  it('group relays the user service (CreateGroup checks its users)', async () => {
    const address = await start('group', openGroupDeps, createGroupServer);
    const client = createGroupServiceClient(address, opts);
    try {
      await expectRule(
        () =>
          client.createGroup({
            groupId: '',
            ownerId: `o-${run}`,
            name: 'relay',
            avatarUrl: '',
            intro: '',
            memberIds: [],
          }),
        'im.group.v1',
      );
    } finally {
      client.close();
    }
  });
});
