import { type Config, type DeepPartial } from '@im-repo/config';
import { UnavailableError } from '@im-repo/errors';
import { conversationService, type AddParticipantsRequest } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { userService, type User } from '@im-repo/proto/user';
import { createServeContext, createStandInServer } from '@im-repo/server-kit';
import { startInProcess, withClient, type TestEnvironment } from '@im-repo/testing';
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
      const set = conversation.participants.get(req.conversationId) ?? new Set<string>();
      req.userIds.forEach((u) => set.add(u));
      conversation.participants.set(req.conversationId, set);
      return {};
    },
  });
  const userPort = await userServer.listen(0, '127.0.0.1');
  const conversationPort = await conversationServer.listen(0, '127.0.0.1');
  return {
    users,
    batchCalls,
    conversation,
    peers: {
      user: `127.0.0.1:${userPort}`,
      conversation: `127.0.0.1:${conversationPort}`,
    },
    /** Users of a group's conversation, as the stand-in saw them. */
    participantsOf(groupId: string): Set<string> {
      return conversation.participants.get(`sg_${groupId}`) ?? new Set();
    },
    async stop() {
      await Promise.all([userServer.shutdown(), conversationServer.shutdown()]);
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
