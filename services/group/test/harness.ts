import { type Config, type DeepPartial } from '@im-repo/config';
import { UnavailableError } from '@im-repo/errors';
import {
  conversationService,
  type AddParticipantsRequest,
  type RemoveParticipantsRequest,
} from '@im-repo/proto/conversation';
import { Message, messageService } from '@im-repo/proto/message';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { userService, type User } from '@im-repo/proto/user';
import { createServeContext, createStandInServer } from '@im-repo/server-kit';
import {
  createServiceSuite,
  startInProcess,
  withClient,
  type TestEnvironment,
} from '@im-repo/testing';
import { createServer, openGroupDeps } from '../src/server';

/**
 * Stand-ins for the group service's peers, backed by in-test data: a user service that knows
 * `users`, and a conversation service that records AddParticipants (or fails while `down`).
 */
export async function startPeers() {
  const users = new Set<string>();
  const batchCalls: string[][] = [];
  const conversation = {
    down: false,
    calls: [] as AddParticipantsRequest[],
    removals: [] as RemoveParticipantsRequest[],
    /** 'add <conversation> <user>' and 'remove <conversation> <user>', in arrival order. */
    log: [] as string[],
    /** conversation id -> users added */
    participants: new Map<string, Set<string>>(),
  };
  const userServer = createStandInServer(userService, {
    async batchGetUsers(req) {
      batchCalls.push(req.userIds);
      const found = [...new Set(req.userIds)].filter((id) => users.has(id));
      return { users: found.map(toUser) };
    },
  });
  const conversationServer = createStandInServer(conversationService, {
    async addParticipants(req) {
      if (conversation.down) throw new UnavailableError('STAND_IN_DOWN', 'stand-in is down');
      conversation.calls.push(req);
      for (const u of req.userIds) conversation.log.push(`add ${req.conversationId} ${u}`);
      const set = conversation.participants.get(req.conversationId) ?? new Set<string>();
      req.userIds.forEach((u) => set.add(u));
      conversation.participants.set(req.conversationId, set);
      return {};
    },
    async removeParticipants(req) {
      if (conversation.down) throw new UnavailableError('STAND_IN_DOWN', 'stand-in is down');
      conversation.removals.push(req);
      for (const u of req.userIds) conversation.log.push(`remove ${req.conversationId} ${u}`);
      return {};
    },
  });
  /** The message service's max_seq per group conversation (absent: no message yet). */
  const message = { down: false, maxSeqs: new Map<string, number>() };
  const messageServer = createStandInServer(messageService, {
    async getConversationHeads(req) {
      if (message.down) throw new UnavailableError('STAND_IN_DOWN', 'stand-in is down');
      return {
        heads: req.conversationIds.flatMap((conversationId) => {
          const maxSeq = message.maxSeqs.get(conversationId);
          return maxSeq
            ? [
                {
                  conversationId,
                  maxSeq,
                  lastMessage: Message.fromPartial({
                    conversationId,
                    seq: maxSeq,
                    sentAt: new Date(maxSeq * 1000),
                  }),
                  lastMessageTruncated: false,
                },
              ]
            : [];
        }),
        maxSeqs: {},
      };
    },
  });
  const userPort = await userServer.listen(0, '127.0.0.1');
  const conversationPort = await conversationServer.listen(0, '127.0.0.1');
  const messagePort = await messageServer.listen(0, '127.0.0.1');
  return {
    users,
    batchCalls,
    conversation,
    peers: {
      user: `127.0.0.1:${userPort}`,
      conversation: `127.0.0.1:${conversationPort}`,
      message: `127.0.0.1:${messagePort}`,
    },
    message,
    /** Users of a group's conversation, as the stand-in saw them. */
    participantsOf(groupId: string): Set<string> {
      return conversation.participants.get(`sg_${groupId}`) ?? new Set();
    },
    async stop() {
      await Promise.all([
        userServer.shutdown(),
        conversationServer.shutdown(),
        messageServer.shutdown(),
      ]);
    },
  };
}

export type Peers = Awaited<ReturnType<typeof startPeers>>;

function toUser(userId: string): User {
  const at = new Date(0);
  return {
    userId,
    username: userId,
    nickname: userId,
    avatarUrl: '',
    createdAt: at,
    updatedAt: at,
  };
}

export async function startGroupService(
  env: TestEnvironment,
  peers: Peers,
  overrides: DeepPartial<Config> = {},
) {
  const config = env.config('group', {
    ...overrides,
    // Generous: suites share two cores in CI; tests about deadlines and leases set their own.
    peers: { ...peers.peers, timeout_ms: 5000, ...overrides.peers },
  });
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openGroupDeps(ctx), createServer);
  return { ...withClient(running, createGroupServiceClient), ctx };
}

export type GroupService = Awaited<ReturnType<typeof startGroupService>>;

/**
 * A suite's database, stand-in peers and group services, all stopped by an after hook of the
 * calling `describe`: `({ svc, peers } = await suite.start())` in its before hook.
 */
export function useGroupSuite(label = 'group') {
  const suite = createServiceSuite({ label, startPeers, startService: startGroupService });
  after(() => suite.stop());
  return suite;
}

let counter = 0;
/** An id unique within the run. */
export const uniqueId = (prefix = 'u') =>
  `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}`;

/** Registers `n` users with the stand-in user service and returns their ids. */
export function makeUsers(peers: Peers, n: number, prefix = 'u'): string[] {
  const ids = Array.from({ length: n }, () => uniqueId(prefix));
  ids.forEach((id) => peers.users.add(id));
  return ids;
}

/** The member_count column and the real number of member rows of a group. */
export async function countsOf(svc: GroupService, groupId: string) {
  const [row] = (await svc.deps.sequelize.query(
    `SELECT g.member_count AS count, (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.group_id) AS rows_
     FROM \`groups\` g WHERE g.group_id = ?`,
    { replacements: [groupId], type: 'SELECT' },
  )) as { count: number; rows_: number }[];
  return { memberCount: Number(row!.count), rows: Number(row!.rows_) };
}
