import { type Config, type DeepPartial } from '@im-repo/config';
import {
  type AppError,
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
} from '@im-repo/errors';
import {
  conversationService,
  type ClearedRecord,
  type MessageRecord,
} from '@im-repo/proto/conversation';
import { GroupRole, groupService } from '@im-repo/proto/group';
import {
  ContentType,
  ConversationType,
  createMessageServiceClient,
  type SendMessageRequest,
} from '@im-repo/proto/message';
import { userService } from '@im-repo/proto/user';
import { createServeContext, createStandInServer, type GrpcServer } from '@im-repo/server-kit';
import {
  createServiceSuite,
  startInProcess,
  withClient,
  type TestEnvironment,
} from '@im-repo/testing';
import { createServer, openMessageDeps } from '../src/server';

export interface StandInMember {
  role: GroupRole;
  muted?: boolean;
}

export interface StandInGroup {
  dismissed?: boolean;
  allMuted?: boolean;
  members: Map<string, StandInMember>;
}

/** The in-test data behind the stand-ins for the user, group and conversation services. */
export interface PeerData {
  users: Set<string>;
  groups: Map<string, StandInGroup>;
  /** Every RecordMessages call, in arrival order. */
  recordCalls: MessageRecord[][];
  /** Every RecordCleared call that succeeded, in arrival order. */
  clearedCalls: ClearedRecord[][];
  /** When set, RecordMessages fails with UNAVAILABLE. */
  conversationDown: boolean;
  /** RecordMessages calls, failed ones included. */
  batchGetUsersCalls: number;
  /** The size of each CheckSendPermissions call. */
  sendCheckCalls: number[];
}

export interface Peers {
  data: PeerData;
  addresses: { user: string; group: string; conversation: string };
  stop(): Promise<void>;
}

/** Real gRPC servers standing in for the peers, with the contract's errors. */
export async function startPeers(): Promise<Peers> {
  const data: PeerData = {
    users: new Set(),
    groups: new Map(),
    recordCalls: [],
    clearedCalls: [],
    conversationDown: false,
    batchGetUsersCalls: 0,
    sendCheckCalls: [],
  };
  const group = (groupId: string) => {
    const g = data.groups.get(groupId);
    if (!g) throw new NotFoundError('GROUP_NOT_FOUND', `group ${groupId} not found`);
    return g;
  };
  const sendRole = (groupId: string, userId: string) => {
    const g = group(groupId);
    if (g.dismissed) throw new FailedPreconditionError('GROUP_DISMISSED', 'dismissed');
    const m = g.members.get(userId);
    if (!m) throw new PermissionDeniedError('NOT_GROUP_MEMBER', 'not a member');
    if (m.muted || (g.allMuted && m.role === GroupRole.GROUP_ROLE_MEMBER)) {
      throw new PermissionDeniedError('MEMBER_MUTED', 'muted');
    }
    return m.role;
  };
  const servers: GrpcServer[] = [
    createStandInServer(userService, {
      async batchGetUsers(req) {
        data.batchGetUsersCalls++;
        const users = [...new Set(req.userIds)]
          .filter((id) => data.users.has(id))
          .map((userId) => ({ userId, username: userId, nickname: userId, avatarUrl: '' }));
        return { users };
      },
    }),
    createStandInServer(groupService, {
      async checkSendPermission(req) {
        return { role: sendRole(req.groupId, req.userId) };
      },
      async checkSendPermissions(req) {
        data.sendCheckCalls.push(req.userIds.length);
        const g = group(req.groupId);
        if (g.dismissed) throw new FailedPreconditionError('GROUP_DISMISSED', 'dismissed');
        return {
          results: req.userIds.map((userId) => {
            try {
              return { userId, role: sendRole(req.groupId, userId) };
            } catch (err) {
              const e = err as AppError;
              const refusal = {
                code: e.code,
                reason: e.reason,
                message: e.message,
                metadata: e.metadata,
              };
              return { userId, role: GroupRole.GROUP_ROLE_UNSPECIFIED, refusal };
            }
          }),
        };
      },
      async getMember(req) {
        const m = group(req.groupId).members.get(req.userId);
        if (!m) throw new NotFoundError('NOT_GROUP_MEMBER', 'not a member');
        return { member: { groupId: req.groupId, userId: req.userId, role: m.role } };
      },
    }),
    createStandInServer(conversationService, {
      async recordMessages(req) {
        if (data.conversationDown) throw new UnavailableError('DOWN', 'stand-in is down');
        data.recordCalls.push(req.records);
        return {};
      },
      async recordCleared(req) {
        if (data.conversationDown) throw new UnavailableError('DOWN', 'stand-in is down');
        data.clearedCalls.push(req.records);
        return {};
      },
    }),
  ];
  const ports = await Promise.all(servers.map((s) => s.listen(0, '127.0.0.1')));
  const [user, group2, conversation] = ports.map((p) => `127.0.0.1:${p}`) as [
    string,
    string,
    string,
  ];
  return {
    data,
    addresses: { user, group: group2, conversation },
    async stop() {
      await Promise.all(servers.map((s) => s.shutdown()));
    },
  };
}

/** Records RecordMessages received, flattened. */
export const recorded = (data: PeerData) => data.recordCalls.flat();

export async function startMessageService(
  env: TestEnvironment,
  peers: Peers,
  overrides: DeepPartial<Config> = {},
) {
  const config = env.config(
    'message',
    merge(
      {
        db: { pool_max: 8 },
        // Generous: suites share two cores in CI; deadline tests set their own.
        peers: { ...peers.addresses, timeout_ms: 10_000 },
        message: { outbox_interval_ms: 100 },
      },
      overrides,
    ),
  );
  const ctx = createServeContext(config);
  const running = await startInProcess(() => openMessageDeps(ctx), createServer);
  return { ...withClient(running, createMessageServiceClient), ctx };
}

function merge<T extends object>(base: T, over: object): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object'
        ? merge(cur as object, v as object)
        : v;
  }
  return out as T;
}

export type MessageInstance = Awaited<ReturnType<typeof startMessageService>>;

/**
 * A suite's database, stand-in peers and message services, all stopped by an after hook of the
 * calling `describe`. Suites that seed `peers.data` first call `open`, then `service`.
 */
export function useMessageSuite(label = 'message') {
  const suite = createServiceSuite({ label, startPeers, startService: startMessageService });
  after(() => suite.stop());
  return suite;
}

let counter = 0;
/** An id unique within the run. */
export const uniqueId = (prefix = 'u') =>
  `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;

export function textSend(
  senderId: string,
  recipientId: string,
  overrides: Partial<SendMessageRequest> = {},
): SendMessageRequest {
  return {
    clientMsgId: uniqueId('c'),
    senderId,
    conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
    recipientId,
    contentType: ContentType.CONTENT_TYPE_TEXT,
    content: Buffer.from('hello'),
    ...overrides,
  };
}

export function groupSend(
  senderId: string,
  groupId: string,
  overrides: Partial<SendMessageRequest> = {},
): SendMessageRequest {
  return textSend(senderId, groupId, {
    conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
    ...overrides,
  });
}

/** Counts the rows of every table of the run's database. */
export async function countAllRows(
  instance: MessageInstance,
  dbName: string,
): Promise<Record<string, number>> {
  const tables = (await instance.deps.sequelize.query(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?',
    { replacements: [dbName], type: 'SELECT' },
  )) as { name: string }[];
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = (await instance.deps.sequelize.query(
      `SELECT CAST(COUNT(*) AS SIGNED) AS n FROM \`${name}\``,
      { type: 'SELECT' },
    )) as { n: number }[];
    counts[name] = Number(row!.n);
  }
  return counts;
}
