// The list floor's servers: the least code that does what one ListConversations must on this
// design, so its CPU per call is the design's floor. Modes (argv[3]):
//   heads            a bare MessageService answering GetConversationHeads' max_seqs with one MGET
//   front <heads>    a bare ConversationService: SELECT the user's rows, one hop to <heads>,
//                    encode a 20-conversation page with total_unread over all rows
//   front-direct     the same, reading the seq keys from Redis itself (no second service)
//   user             a bare UserService answering GetUser with the user's encoded answer, read
//                    with one Redis GET and sent as the bytes it holds (getuser's floor)
// argv: port, mode, [heads address]; env FLOOR_DB (database), FLOOR_PREFIX (Redis key prefix).
import { credentials, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { ConversationServiceService } from '@im-repo/proto/conversation';
import {
  ConversationType,
  MessageServiceClient,
  MessageServiceService,
  type GetConversationHeadsResponse,
} from '@im-repo/proto/message';
import { loadConfig } from '@im-repo/config';
import { UserServiceService } from '@im-repo/proto/user';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

const [, , port, mode, headsAddress] = process.argv;
const prefix = process.env.FLOOR_PREFIX ?? 'floor:';
// The message service's seq key shape (message.cache-keys.ts), under the run's own prefix.
const seqKey = (id: string) => `${prefix}conv:{${id}}:seq`;
const redisCfg = loadConfig('message', { file: '' }).redis;
const redis = new Redis({ host: redisCfg.host, port: redisCfg.port });

async function maxSeqs(ids: string[]): Promise<Record<string, number>> {
  const values = await redis.mget(ids.map(seqKey));
  const out: Record<string, number> = {};
  for (let i = 0; i < ids.length; i++) out[ids[i]!] = Number(values[i] ?? 0);
  return out;
}

const server = new Server();
const notUsed = (_call: unknown, cb: (e: Error) => void) => cb(new Error('not used'));

if (mode === 'heads') {
  server.addService({ getConversationHeads: MessageServiceService.getConversationHeads }, {
    getConversationHeads: (
      call: { request: { maxSeqOnlyIds: string[] } },
      cb: (e: null | Error, r?: GetConversationHeadsResponse) => void,
    ) => {
      maxSeqs(call.request.maxSeqOnlyIds).then(
        (m) => cb(null, { heads: [], maxSeqs: m }),
        (err: Error) => cb(err),
      );
    },
  } as never);
} else if (mode === 'user') {
  // Bytes pass through: the least a cached read can do is one GET and a write of what it got.
  const getUser = { ...UserServiceService.getUser, responseSerialize: (b: Buffer) => b };
  server.addService(
    { getUser } as never,
    {
      getUser: (
        call: { request: { userId: string } },
        cb: (e: Error | null, r?: Buffer) => void,
      ) => {
        redis.getBuffer(`${prefix}user:${call.request.userId}`).then(
          (bytes) => (bytes ? cb(null, bytes) : cb(new Error('not seeded'))),
          (err: Error) => cb(err),
        );
      },
    } as never,
  );
} else {
  const db = loadConfig('conversation', { file: '' }).db;
  const pool = mysql.createPool({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: process.env.FLOOR_DB,
    connectionLimit: 8,
  });
  const heads = headsAddress
    ? new MessageServiceClient(headsAddress, credentials.createInsecure())
    : undefined;
  const hop = (ids: string[]) =>
    new Promise<Record<string, number>>((resolve, reject) =>
      heads!.getConversationHeads(
        { conversationIds: [], maxSeqOnlyIds: ids },
        (err: ServiceError | null, r?: GetConversationHeadsResponse) =>
          err ? reject(err) : resolve(r!.maxSeqs),
      ),
    );
  // The conversation service's own statement (conversation.repository.ts SELECT_JOINED).
  const SELECT = `SELECT uc.user_id, uc.conversation_id, uc.conversation_type, uc.peer_id, uc.read_seq,
      uc.pinned, uc.muted, uc.hidden_seq, uc.created_at, uc.frozen_seq, uc.frozen_at, uc.cleared_seq,
      a.max_seq AS activity_max_seq, a.last_sent_at
    FROM floor_uc uc LEFT JOIN floor_activity a ON a.conversation_id = uc.conversation_id
    WHERE uc.user_id = ?`;
  const list = async (userId: string) => {
    const [rows] = await pool.execute<mysql.RowDataPacket[]>(SELECT, [userId]);
    const ids = rows.map((r) => r.conversation_id as string);
    const seqs = heads ? await hop(ids) : await maxSeqs(ids);
    let totalUnread = 0;
    for (const r of rows) totalUnread += Math.max(0, (seqs[r.conversation_id] ?? 0) - r.read_seq);
    rows.sort((a, b) => b.last_sent_at - a.last_sent_at);
    const conversations = rows.slice(0, 20).map((r) => {
      const maxSeq = seqs[r.conversation_id] ?? 0;
      return {
        conversationId: r.conversation_id as string,
        conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
        peerId: r.peer_id as string,
        maxSeq,
        readSeq: Number(r.read_seq),
        unreadCount: Math.max(0, maxSeq - r.read_seq),
        pinned: !!r.pinned,
        muted: !!r.muted,
        lastMessage: undefined,
        updatedAt: r.last_sent_at as Date,
        lastMessageTruncated: false,
      };
    });
    return { conversations, nextPageToken: 'floor-next-page', totalUnread };
  };
  const impl: Record<string, unknown> = {};
  for (const name of Object.keys(ConversationServiceService)) impl[name] = notUsed;
  impl.listConversations = (
    call: { request: { userId: string } },
    cb: (e: Error | null, r?: unknown) => void,
  ) => {
    list(call.request.userId).then(
      (r) => cb(null, r),
      (err: Error) => cb(err),
    );
  };
  server.addService(ConversationServiceService, impl as never);
}

server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
