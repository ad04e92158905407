import { SERVICES, type ServiceName } from '@im-repo/config';
import { groupConversationId } from '@im-repo/proto';
import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { ContentType, ConversationType } from '@im-repo/proto/message';
import { createMessageServiceClient } from '@im-repo/proto/message';
import { createPresenceServiceClient, Platform } from '@im-repo/proto/presence';
import { createUserServiceClient } from '@im-repo/proto/user';
import { clientCredentials } from '@im-repo/server-kit';
import {
  createPki,
  createTestEnvironment,
  expectGrpcError,
  GrpcStatus,
  TEST_CLIENT_TIMEOUT_MS,
  type Pki,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import { expect } from 'chai';
import { Stack, type Overrides } from './stack';

describe('internal rpcs under mutual TLS: only INTERNAL_CALLERS (API.md v1.1 "Internal rpcs")', function () {
  this.timeout(90_000);
  let env: TestEnvironment;
  let pki: Pki;
  let stack: Stack;
  const run = Date.now().toString(36);

  before(async () => {
    env = await createTestEnvironment('mtls');
    // Every service's certificate names it (DNS SAN) and the address peers dial (IP SAN).
    pki = createPki([
      ...SERVICES.map((s) => ({ name: s, san: `DNS:${s},IP:127.0.0.1` })),
      // A gateway: a valid certificate of the same CA, but not a listed caller.
      { name: 'gateway', san: 'DNS:gateway' },
      // No SAN: the CN is the identity.
      { name: 'cn-only', cn: 'message' },
      // A SAN wins over the CN.
      { name: 'san-wins', cn: 'message', san: 'DNS:gateway' },
    ]);
    const overrides: Overrides = Object.fromEntries(
      SERVICES.map((s) => [s, { tls: { ...pki.cert(s), ca: pki.ca } }]),
    );
    stack = await Stack.start(env, overrides);
  });
  after(async () => {
    await stack?.stop();
    pki?.remove();
    await env?.teardown();
  });

  const as = (identity: string) => ({
    timeoutMs: TEST_CLIENT_TIMEOUT_MS,
    maxAttempts: 1,
    credentials: clientCredentials({ ...pki.cert(identity), ca: pki.ca }),
  });
  const conversationAs = (identity: string) =>
    createConversationServiceClient(stack.address('conversation'), as(identity));
  const groupAs = (identity: string) =>
    createGroupServiceClient(stack.address('group'), as(identity));

  it('the services call each other over mutual TLS: a group send records its conversation', async () => {
    const user = createUserServiceClient(stack.address('user'), as('gateway'));
    const group = groupAs('gateway');
    const message = createMessageServiceClient(stack.address('message'), as('gateway'));
    const conversation = conversationAs('gateway');
    try {
      const ids = await stack.registerUsers(
        ['a', 'b'].map((x) => `${x}-${run}`),
        user,
      );
      const groupId = `g-${run}`;
      // group -> user (BatchGetUsers) and group -> conversation (AddParticipants, internal)
      await group.createGroup({
        groupId,
        ownerId: ids[0]!,
        name: 'mtls',
        avatarUrl: '',
        intro: '',
        memberIds: [ids[1]!],
      });
      // message -> group (CheckSendPermission, internal) and -> conversation (RecordMessages)
      const { message: sent } = await message.sendMessage({
        clientMsgId: `m-${run}`,
        senderId: ids[0]!,
        conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
        recipientId: groupId,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from('over mTLS'),
      });
      expect(sent!.seq).to.equal(1);
      const { conversation: row } = await conversation.getConversation({
        userId: ids[1]!,
        conversationId: groupConversationId(groupId),
      });
      expect(row!.maxSeq).to.equal(1);
      expect(row!.unreadCount).to.equal(1);
    } finally {
      for (const c of [user, group, message, conversation]) c.close();
    }
  });

  const denied = async (promise: Promise<unknown>, what: string) => {
    const err = await expectGrpcError(promise, GrpcStatus.PERMISSION_DENIED, 'CALLER_NOT_ALLOWED');
    expect(err.domain, what).to.match(/^im\.(conversation|group|message|presence)\.v1$/);
  };

  it('refuses RecordMessages, AddParticipants and CheckSendPermission(s) from an unlisted caller, before validation', async () => {
    const gateway = conversationAs('gateway');
    const gatewayGroup = groupAs('gateway');
    const messageCaller = conversationAs('message');
    try {
      await denied(gateway.recordMessages({ records: [] }), 'RecordMessages');
      await denied(
        gateway.addParticipants({
          conversationId: 'not canonical',
          conversationType: ConversationType.CONVERSATION_TYPE_UNSPECIFIED,
          peerId: '',
          userIds: [],
        }),
        'AddParticipants, invalid request',
      );
      await denied(gatewayGroup.checkSendPermission({ groupId: '', userId: '' }), 'group');
      await denied(gatewayGroup.checkSendPermissions({ groupId: '', userIds: [] }), 'group batch');
      // conversation is a peer, but not one that calls the group service's internal rpcs.
      const asConversation = groupAs('conversation');
      try {
        await denied(
          asConversation.checkSendPermission({ groupId: `g-${run}`, userId: `a-${run}` }),
          'conversation -> group',
        );
      } finally {
        asConversation.close();
      }
      // The public rpcs stay open to any certificate of the CA.
      const { conversations } = await gateway.listConversations({
        userId: `b-${run}`,
        pageSize: 10,
        pageToken: '',
      });
      expect(conversations).to.have.length(1);
      // A listed caller gets past the check, on to validation.
      const err = await expectGrpcError(
        messageCaller.recordMessages({
          records: [
            {
              conversationId: 'bad',
              conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
              senderId: 'a',
              recipientId: 'b',
              seq: 1,
              sentAt: new Date(),
            },
          ],
        }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(err.metadata.field).to.match(/^records\[0\]/);
    } finally {
      for (const c of [gateway, gatewayGroup, messageCaller]) c.close();
    }
  });

  it('ForgetUser (conversation, group, message, presence) is for the user service only; DeleteUser follows up over mutual TLS', async () => {
    const clients = (identity: string) => ({
      conversation: conversationAs(identity),
      group: groupAs(identity),
      message: createMessageServiceClient(stack.address('message'), as(identity)),
      presence: createPresenceServiceClient(stack.address('presence'), as(identity)),
    });
    const gateway = clients('gateway');
    const userService = clients('user');
    const user = createUserServiceClient(stack.address('user'), as('gateway'));
    try {
      for (const [name, client] of Object.entries(gateway)) {
        await denied(
          (client as { forgetUser(r: { userId: string }): Promise<unknown> }).forgetUser({
            userId: '',
          }),
          `${name}.ForgetUser`,
        );
      }
      for (const [name, client] of Object.entries(userService)) {
        const err = await expectGrpcError(
          (client as { forgetUser(r: { userId: string }): Promise<unknown> }).forgetUser({
            userId: '',
          }),
          GrpcStatus.INVALID_ARGUMENT,
        );
        expect(err.metadata.field, name).to.equal('user_id');
      }
      const [a, b] = (await stack.registerUsers(
        ['del-a', 'del-b'].map((x) => `${x}-${run}`),
        user,
      )) as [string, string];
      const groupId = `gd-${run}`;
      await gateway.group.createGroup({
        groupId,
        ownerId: a,
        name: 'mtls',
        avatarUrl: '',
        intro: '',
        memberIds: [b],
      });
      await gateway.presence.heartbeat({
        userId: a,
        deviceId: 'd',
        platform: Platform.PLATFORM_WEB,
        ttlSeconds: 600,
      });
      await user.deleteUser({ userId: a });
      await waitFor(
        async () => {
          const { group } = await gateway.group.getGroup({ groupId });
          const { status } = await gateway.presence.getStatus({ userId: a });
          const { conversations } = await gateway.conversation.listConversations({
            userId: a,
            pageSize: 0,
            pageToken: '',
          });
          return group!.ownerId === b && !status!.online && conversations.length === 0;
        },
        { timeoutMs: 30_000, what: "the deletion's follow-ups over mutual TLS" },
      );
    } finally {
      for (const c of [...Object.values(gateway), ...Object.values(userService), user]) c.close();
    }
  });

  it('takes the DNS SAN as the identity, else the CN', async () => {
    const listed: [string, ServiceName][] = [
      ['message', 'conversation'],
      ['group', 'conversation'],
      ['user', 'conversation'],
      ['message', 'group'],
      ['user', 'group'],
    ];
    for (const [caller, target] of listed) {
      const client = target === 'conversation' ? conversationAs(caller) : groupAs(caller);
      try {
        if (target === 'conversation') {
          await (client as ReturnType<typeof conversationAs>).recordMessages({ records: [] });
        } else {
          await expectGrpcError(
            (client as ReturnType<typeof groupAs>).checkSendPermission({
              groupId: '',
              userId: '',
            }),
            GrpcStatus.INVALID_ARGUMENT,
          );
        }
      } finally {
        client.close();
      }
    }
    const cnOnly = conversationAs('cn-only');
    const sanWins = conversationAs('san-wins');
    try {
      await cnOnly.recordMessages({ records: [] });
      await denied(sanWins.recordMessages({ records: [] }), 'SAN over CN');
    } finally {
      cnOnly.close();
      sanWins.close();
    }
  });
});
