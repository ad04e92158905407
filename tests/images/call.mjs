#!/usr/bin/env node
// One rpc against a running service container, through the workspace's typed clients:
//   node tests/images/call.mjs <service> <host:port>
// Each call reads or writes the service's own MySQL/Redis state and needs no peer. Prints one
// line with what came back; exits 1 when the answer is not the expected one.
//   node tests/images/call.mjs stack <user addr> <group addr> <message addr>
// The compose stack end to end: two users, a group (group calls user and conversation), a group
// message (message calls group and conversation), pulled back.
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const [service, address, ...more] = process.argv.slice(2);
const require = createRequire(new URL('../../packages/server-kit/package.json', import.meta.url));
const options = { maxAttempts: 1, timeoutMs: 10_000 };
const id = randomUUID().slice(0, 8);

const calls = {
  async user() {
    const { createUserServiceClient } = require('@im-repo/proto/user');
    const client = createUserServiceClient(address, options);
    try {
      const registered = await client.register({
        userId: '',
        username: `image_${id}`,
        password: 'correct horse battery',
        nickname: 'image test',
        avatarUrl: '',
      });
      const userId = registered.user.userId;
      const { user } = await client.getUser({ userId });
      if (user?.username !== `image_${id}`)
        throw new Error(`GetUser returned ${JSON.stringify(user)}`);
      return `Register + GetUser -> ${userId}`;
    } finally {
      client.close();
    }
  },
  async group() {
    const { createGroupServiceClient } = require('@im-repo/proto/group');
    const client = createGroupServiceClient(address, options);
    try {
      const { groups } = await client.listUserGroups({
        userId: `u-${id}`,
        pageSize: 10,
        pageToken: '',
      });
      if (groups.length !== 0) throw new Error(`a new user has ${groups.length} groups`);
      return 'ListUserGroups -> 0 groups';
    } finally {
      client.close();
    }
  },
  async message() {
    const { createMessageServiceClient } = require('@im-repo/proto/message');
    const { singleConversationId } = require('@im-repo/proto');
    const client = createMessageServiceClient(address, options);
    try {
      const conversationId = singleConversationId(`a-${id}`, `b-${id}`);
      const { maxSeqs } = await client.getMaxSeqs({ conversationIds: [conversationId] });
      if (Number(maxSeqs[conversationId] ?? 0) !== 0) throw new Error(JSON.stringify(maxSeqs));
      return `GetMaxSeqs(${conversationId}) -> 0`;
    } finally {
      client.close();
    }
  },
  async conversation() {
    const { createConversationServiceClient } = require('@im-repo/proto/conversation');
    const client = createConversationServiceClient(address, options);
    try {
      const { totalUnread } = await client.getTotalUnread({ userId: `u-${id}` });
      if (Number(totalUnread) !== 0) throw new Error(`total unread ${totalUnread}`);
      return 'GetTotalUnread -> 0';
    } finally {
      client.close();
    }
  },
  async presence() {
    const { createPresenceServiceClient } = require('@im-repo/proto/presence');
    const client = createPresenceServiceClient(address, options);
    try {
      const userId = `u-${id}`;
      await client.heartbeat({ userId, deviceId: 'd1', platform: 1, ttlSeconds: 60 });
      const { status } = await client.getStatus({ userId });
      if (!status?.online) throw new Error(`GetStatus after Heartbeat: ${JSON.stringify(status)}`);
      return 'Heartbeat + GetStatus -> online';
    } finally {
      client.close();
    }
  },
  async stack() {
    const [groupAddress, messageAddress] = more;
    const users = require('@im-repo/proto/user').createUserServiceClient(address, options);
    const groups = require('@im-repo/proto/group').createGroupServiceClient(groupAddress, options);
    const messages = require('@im-repo/proto/message').createMessageServiceClient(
      messageAddress,
      options,
    );
    try {
      const register = (name) =>
        users.register({
          userId: '',
          username: `${name}_${id}`,
          password: 'correct horse battery',
          nickname: name,
          avatarUrl: '',
        });
      const owner = (await register('owner')).user.userId;
      const member = (await register('member')).user.userId;
      const { group } = await groups.createGroup({
        groupId: '',
        ownerId: owner,
        name: 'compose',
        avatarUrl: '',
        intro: '',
        memberIds: [member],
      });
      const { message } = await messages.sendMessage({
        clientMsgId: `c-${id}`,
        senderId: owner,
        conversationType: 2,
        recipientId: group.groupId,
        contentType: 1,
        content: Buffer.from('hello from compose'),
      });
      const pulled = await messages.pullMessages({
        userId: member,
        conversationId: message.conversationId,
        beginSeq: 0,
        endSeq: 0,
        limit: 10,
        descending: false,
      });
      const texts = pulled.messages.map((m) => Buffer.from(m.content).toString());
      if (texts.join() !== 'hello from compose') throw new Error(`pulled ${JSON.stringify(texts)}`);
      return `Register x2, CreateGroup ${group.groupId}, SendMessage seq ${message.seq}, PullMessages -> 1 message`;
    } finally {
      users.close();
      groups.close();
      messages.close();
    }
  },
};

try {
  process.stdout.write(`${await calls[service]()}\n`);
} catch (err) {
  process.stdout.write(`${err.code ?? ''} ${err.details ?? err.message}\n`);
  process.exitCode = 1;
}
