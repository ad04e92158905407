import { createServer as createNetServer, type Socket } from 'node:net';
import { expect } from 'chai';
import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import {
  createTestEnvironment,
  expectGrpcError,
  freePort,
  GrpcStatus,
  type TestEnvironment,
} from '@im-repo/testing';
import { startConversationService, uid, type ConversationService } from './harness';
import { MessageStandIn } from './message-stand-in';

describe('with the message service down', () => {
  let env: TestEnvironment;
  let messages: MessageStandIn;
  let svc: ConversationService;
  const a = uid('da');
  const b = uid('db');
  const groupId = uid('dg');
  let direct: string;

  before(async () => {
    env = await createTestEnvironment('conv-unavailable');
    messages = await MessageStandIn.start();
    svc = await startConversationService(env, messages.address);
    const record = messages.send(a, 'single', b);
    direct = record.conversationId;
    await svc.client.recordMessages({ records: [record] });
    await svc.client.addParticipants({
      conversationId: `sg_${groupId}`,
      conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
      peerId: groupId,
      userIds: [a, b],
    });
    // Works while it is up; then it goes away.
    expect((await svc.client.getTotalUnread({ userId: b })).totalUnread).to.equal(1);
    await messages.stop();
  });

  after(async () => {
    await svc?.stop();
    await env?.teardown();
  });

  // A generous client deadline: the answer must be UNAVAILABLE from the server, not our deadline.
  const opts = { timeoutMs: 15_000 };

  it('every call that needs max_seq fails with UNAVAILABLE instead of hanging', async () => {
    // One attempt per call: the answer is the server's, not hidden behind client retries.
    const c = createConversationServiceClient(svc.address, { maxAttempts: 1 });
    const calls: [string, () => Promise<unknown>][] = [
      [
        'ListConversations',
        () => c.listConversations({ userId: a, pageSize: 0, pageToken: '' }, opts),
      ],
      ['GetTotalUnread', () => c.getTotalUnread({ userId: a }, opts)],
      ['GetConversation', () => c.getConversation({ userId: a, conversationId: direct }, opts)],
      ['MarkRead', () => c.markRead({ userId: b, conversationId: direct, readSeq: 0 }, opts)],
      ['SetPinned', () => c.setPinned({ userId: a, conversationId: direct, pinned: true }, opts)],
      ['SetMuted', () => c.setMuted({ userId: a, conversationId: direct, muted: true }, opts)],
      ['HideConversation', () => c.hideConversation({ userId: a, conversationId: direct }, opts)],
      [
        'AddParticipants',
        () =>
          c.addParticipants(
            {
              conversationId: `sg_${groupId}`,
              conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
              peerId: groupId,
              userIds: [uid('new')],
            },
            opts,
          ),
      ],
    ];
    for (const [name, call] of calls) {
      const err = await expectGrpcError(call(), GrpcStatus.UNAVAILABLE, 'PEER_UNAVAILABLE').catch(
        (e: Error) => {
          throw new Error(`${name}: ${e.message}`);
        },
      );
      expect(err.domain).to.equal('im.conversation.v1');
      expect(err.message).to.not.match(/127\.0\.0\.1|ECONNREFUSED/);
    }
    c.close();
  });

  it('failed calls changed nothing', async () => {
    const [row] = (await svc.deps.sequelize.query(
      'SELECT pinned, muted, hidden_seq, read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?',
      { replacements: [a, direct], type: 'SELECT' },
    )) as Record<string, number>[];
    expect(row).to.deep.equal({ pinned: 0, muted: 0, hidden_seq: -1, read_seq: 1 });
  });

  it('checks before the peer still answer: bad input and unknown conversations', async () => {
    await expectGrpcError(
      svc.client.markRead({ userId: a, conversationId: direct, readSeq: -1 }),
      GrpcStatus.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      svc.client.getConversation({ userId: uid('nobody'), conversationId: direct }),
      GrpcStatus.NOT_FOUND,
      'CONVERSATION_NOT_FOUND',
    );
  });

  it('RecordMessages does not need the message service and keeps working', async () => {
    await svc.client.recordMessages({
      records: [
        {
          conversationId: direct,
          conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
          senderId: b,
          recipientId: a,
          seq: 2,
          sentAt: new Date(),
        },
      ],
    });
    const [row] = (await svc.deps.sequelize.query(
      'SELECT read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?',
      { replacements: [b, direct], type: 'SELECT' },
    )) as { read_seq: number }[];
    expect(row!.read_seq).to.equal(2);
  });

  it('a message service that never listened (closed port) is UNAVAILABLE too', async () => {
    const other = await startConversationService(env, `127.0.0.1:${await freePort()}`);
    try {
      await expectGrpcError(
        other.client.listConversations({ userId: a, pageSize: 0, pageToken: '' }, opts),
        GrpcStatus.UNAVAILABLE,
        'PEER_UNAVAILABLE',
      );
      await expectGrpcError(
        other.client.getTotalUnread({ userId: b }, opts),
        GrpcStatus.UNAVAILABLE,
        'PEER_UNAVAILABLE',
      );
    } finally {
      await other.stop();
    }
  });

  it('a message service that accepts but never answers hits the peer deadline: UNAVAILABLE', async () => {
    // A TCP listener that never speaks HTTP/2: the call can only end by its deadline.
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const other = await startConversationService(env, `127.0.0.1:${port}`, {
      peers: { timeout_ms: 300 },
    });
    try {
      await expectGrpcError(
        other.client.getConversation({ userId: a, conversationId: direct }, opts),
        GrpcStatus.UNAVAILABLE,
        'PEER_UNAVAILABLE',
      );
    } finally {
      await other.stop();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
