// The list path's floor on this design, with the cheapest code that does its irreducible work:
// bare grpc-js servers, mysql2 and ioredis, no framework, no metrics, no validation.
//   heads <port>                  MessageService.GetConversationHeads: one MGET of the seq keys
//   list <port> <headsAddress|->  ConversationService.ListConversations: the user's rows (the
//                                 conversation service's query and index), every max_seq (over the
//                                 hop, or read from Redis directly with '-'), a 20-row answer
// Env: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, REDIS_PORT, REDIS_KEY_PREFIX.
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { ConversationServiceService } from '@im-repo/proto/conversation';
import { MessageServiceService } from '@im-repo/proto/message';
import Redis from 'ioredis';
import mysql from 'mysql2';

const [mode, port, headsAddress] = process.argv.slice(2);
const env = process.env;
const redis = new Redis({
  host: '127.0.0.1',
  port: Number(env.REDIS_PORT ?? 6379),
  keyPrefix: env.REDIS_KEY_PREFIX,
});
const seqKey = (id: string) => `conv:{${id}}:seq`;

async function maxSeqsFromRedis(ids: string[]): Promise<Record<string, number>> {
  const values = await redis.mget(ids.map(seqKey));
  const out: Record<string, number> = {};
  ids.forEach((id, i) => (out[id] = Number(values[i] ?? 0)));
  return out;
}

type Callback = (err: ServiceError | Error | null, res?: unknown) => void;
const notUsed = (_call: unknown, cb: Callback) => cb(new Error('not used'));
const server = new Server();

function stubs(service: object): Record<string, typeof notUsed> {
  return Object.fromEntries(
    Object.values(service).map((m: { originalName: string }) => [m.originalName, notUsed]),
  );
}

if (mode === 'heads') {
  server.addService(MessageServiceService, {
    ...stubs(MessageServiceService),
    getConversationHeads: (call: { request: { maxSeqOnlyIds: string[] } }, cb: Callback) =>
      maxSeqsFromRedis(call.request.maxSeqOnlyIds).then(
        (maxSeqs) => cb(null, { heads: [], maxSeqs }),
        (err) => cb(err),
      ),
  });
} else {
  const db = mysql.createPool({
    host: env.DB_HOST,
    port: Number(env.DB_PORT),
    user: env.DB_USER,
    password: env.DB_PASSWORD,
    database: env.DB_NAME,
    connectionLimit: 8,
  });
  // The conversation service's statement (conversation.repository.ts SELECT_JOINED).
  const SQL = `SELECT uc.user_id, uc.conversation_id, uc.conversation_type, uc.peer_id, uc.read_seq,
         uc.pinned, uc.muted, uc.hidden_seq, uc.created_at, uc.frozen_seq, uc.frozen_at,
         uc.cleared_seq, a.max_seq AS activity_max_seq, a.last_sent_at
    FROM user_conversations uc
    LEFT JOIN conversation_activity a ON a.conversation_id = uc.conversation_id
    WHERE uc.user_id = ?`;
  interface Row {
    conversation_id: string;
    conversation_type: number;
    peer_id: string;
    read_seq: number;
    pinned: number;
    muted: number;
    created_at: Date;
    last_sent_at: Date | null;
  }
  const rowsOf = (userId: string) =>
    new Promise<Row[]>((resolve, reject) =>
      db.query(SQL, [userId], (err, rows) => (err ? reject(err) : resolve(rows as Row[]))),
    );
  const Heads = makeGenericClientConstructor(MessageServiceService, 'MessageService');
  const heads =
    headsAddress && headsAddress !== '-'
      ? (new Heads(headsAddress, credentials.createInsecure()) as unknown as {
          getConversationHeads(
            req: unknown,
            cb: (err: Error | null, res: { maxSeqs: Record<string, number> }) => void,
          ): void;
        })
      : undefined;
  const maxSeqs = (ids: string[]) =>
    heads
      ? new Promise<Record<string, number>>((resolve, reject) =>
          heads.getConversationHeads({ conversationIds: [], maxSeqOnlyIds: ids }, (err, res) =>
            err ? reject(err) : resolve(res.maxSeqs),
          ),
        )
      : maxSeqsFromRedis(ids);
  const at = (r: Row) => (r.last_sent_at ?? r.created_at).getTime();

  async function list(userId: string, pageSize: number) {
    const rows = await rowsOf(userId);
    // The list order: pinned first, then newest activity, then id.
    rows.sort(
      (a, b) =>
        b.pinned - a.pinned || at(b) - at(a) || (a.conversation_id < b.conversation_id ? -1 : 1),
    );
    const seqs = await maxSeqs(rows.map((r) => r.conversation_id));
    let totalUnread = 0;
    for (const r of rows)
      if (!r.muted) totalUnread += Math.max(0, (seqs[r.conversation_id] ?? 0) - r.read_seq);
    const conversations = rows.slice(0, pageSize).map((r) => {
      const maxSeq = seqs[r.conversation_id] ?? 0;
      return {
        conversationId: r.conversation_id,
        conversationType: r.conversation_type,
        peerId: r.peer_id,
        maxSeq,
        readSeq: r.read_seq,
        unreadCount: Math.max(0, maxSeq - r.read_seq),
        pinned: Boolean(r.pinned),
        muted: Boolean(r.muted),
        updatedAt: r.last_sent_at ?? r.created_at,
        lastMessageTruncated: false,
      };
    });
    return { conversations, nextPageToken: rows.length > pageSize ? 'next' : '', totalUnread };
  }

  server.addService(ConversationServiceService, {
    ...stubs(ConversationServiceService),
    listConversations: (call: { request: { userId: string; pageSize: number } }, cb: Callback) =>
      list(call.request.userId, call.request.pageSize || 20).then(
        (res) => cb(null, res),
        (err) => cb(err),
      ),
  });
}

server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
