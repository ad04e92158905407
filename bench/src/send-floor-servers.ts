// The send path's floor on this design, run end to end with the cheapest code that does its
// irreducible work: bare grpc-js servers and mysql2, no framework, metrics or checks (a group
// send's permission check left out too).
//   send <port> <recordAddress>   MessageService.SendMessage: commits of up to 21 messages (seq
//                                 upsert + locking read, message insert, outbox row insert, and
//                                 its delete after the hop), then RecordMessages per commit
//   record <port>                 ConversationService.RecordMessages: activity rows and the
//                                 per-user rows (both users of a single chat, a group message's
//                                 sender), one transaction
// Both write the bench's own tables (created by the scenario) with the services' keys.
// Env: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME.
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { ConversationServiceService } from '@im-repo/proto/conversation';
import { MessageServiceService } from '@im-repo/proto/message';
import mysql from 'mysql2';
import type { RowDataPacket } from 'mysql2/promise';

const [mode, port, recordAddress] = process.argv.slice(2);
const env = process.env;
type Callback = (err: ServiceError | Error | null, res?: unknown) => void;
const notUsed = (_call: unknown, cb: Callback) => cb(new Error('not used'));
const server = new Server();

function stubs(service: object): Record<string, typeof notUsed> {
  return Object.fromEntries(
    Object.values(service).map((m: { originalName: string }) => [m.originalName, notUsed]),
  );
}

function pool(connections: number) {
  return mysql.createPool({
    host: env.DB_HOST,
    port: Number(env.DB_PORT),
    user: env.DB_USER,
    password: env.DB_PASSWORD,
    database: env.DB_NAME,
    connectionLimit: connections,
  });
}

const BATCH = 21;
const COMMITS_IN_FLIGHT = 3;
interface Pending {
  req: {
    senderId: string;
    conversationType: number;
    recipientId: string;
    clientMsgId: string;
    content: Buffer;
  };
  cb: Callback;
}

if (mode === 'send') {
  const db = pool(COMMITS_IN_FLIGHT).promise();
  const Record = makeGenericClientConstructor(ConversationServiceService, 'ConversationService');
  const record = new Record(recordAddress!, credentials.createInsecure()) as unknown as {
    recordMessages(req: unknown, cb: (err: Error | null) => void): void;
  };
  const queue: Pending[] = [];
  let inFlight = 0;
  let outboxId = 0;
  const GROUP = 2;
  const cid = ({ senderId: a, conversationType, recipientId: b }: Pending['req']) =>
    conversationType === GROUP ? `sg_${b}` : a < b ? `si_${a}_${b}` : `si_${b}_${a}`;

  async function commit(batch: Pending[]) {
    const byConversation = new Map<string, number>();
    for (const p of batch) {
      const c = cid(p.req);
      byConversation.set(c, (byConversation.get(c) ?? 0) + 1);
    }
    const ids = [...byConversation.keys()].sort();
    const conn = await db.getConnection();
    const now = new Date();
    const id = `o${process.pid}-${outboxId++}`;
    try {
      await conn.beginTransaction();
      await conn.query(
        `INSERT INTO bench_seqs (conversation_id, max_seq, updated_at) VALUES ?
         ON DUPLICATE KEY UPDATE max_seq = max_seq + VALUES(max_seq), updated_at = VALUES(updated_at)`,
        [ids.map((c) => [c, byConversation.get(c), now])],
      );
      const [seqRows] = await conn.query<RowDataPacket[]>(
        'SELECT conversation_id, max_seq FROM bench_seqs WHERE conversation_id IN (?) FOR UPDATE',
        [ids],
      );
      const next = new Map(
        seqRows.map((r) => [
          r.conversation_id as string,
          Number(r.max_seq) - byConversation.get(r.conversation_id)! + 1,
        ]),
      );
      const messages = batch.map((p) => {
        const c = cid(p.req);
        const seq = next.get(c)!;
        next.set(c, seq + 1);
        return { p, c, seq, serverMsgId: `m${id}-${seq}-${c}`.slice(0, 32) };
      });
      await conn.query(
        'INSERT INTO bench_messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, content, sent_at) VALUES ?',
        [
          messages.map((m) => [
            m.c,
            m.seq,
            m.serverMsgId,
            m.p.req.senderId,
            m.p.req.clientMsgId,
            m.p.req.content,
            now,
          ]),
        ],
      );
      const records = messages.map((m) => ({
        conversationId: m.c,
        conversationType: m.p.req.conversationType,
        senderId: m.p.req.senderId,
        recipientId: m.p.req.recipientId,
        seq: m.seq,
        sentAt: now,
      }));
      await conn.query('INSERT INTO bench_outbox (id, payload) VALUES (?, ?)', [
        id,
        JSON.stringify(records),
      ]);
      await conn.commit();
      for (const m of messages)
        m.p.cb(null, {
          message: {
            serverMsgId: m.serverMsgId,
            clientMsgId: m.p.req.clientMsgId,
            conversationId: m.c,
            conversationType: m.p.req.conversationType,
            seq: m.seq,
            senderId: m.p.req.senderId,
            recipientId: m.p.req.recipientId,
            contentType: 1,
            content: m.p.req.content,
            status: 1,
            sentAt: now,
          },
          duplicate: false,
        });
      // Delivered once per commit, as the outbox does, then its row goes.
      await new Promise<void>((resolve, reject) =>
        record.recordMessages({ records }, (err) => (err ? reject(err) : resolve())),
      );
      await conn.query('DELETE FROM bench_outbox WHERE id = ?', [id]);
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      for (const p of batch) p.cb(err as Error);
    } finally {
      conn.release();
    }
  }

  const pump = () => {
    while (inFlight < COMMITS_IN_FLIGHT && queue.length > 0) {
      inFlight++;
      void commit(queue.splice(0, BATCH)).finally(() => {
        inFlight--;
        pump();
      });
    }
  };
  server.addService(MessageServiceService, {
    ...stubs(MessageServiceService),
    sendMessage: (call: { request: Pending['req'] }, cb: Callback) => {
      queue.push({ req: call.request, cb });
      if (queue.length === 1) setImmediate(pump);
      else pump();
    },
  });
} else if (mode === 'record') {
  const db = pool(2).promise();
  interface Rec {
    conversationId: string;
    conversationType: number;
    senderId: string;
    recipientId: string;
    seq: number;
    sentAt: Date;
  }
  server.addService(ConversationServiceService, {
    ...stubs(ConversationServiceService),
    recordMessages: (call: { request: { records: Rec[] } }, cb: Callback) => {
      const recs = call.request.records;
      const last = new Map<string, Rec>();
      for (const r of recs) last.set(r.conversationId, r);
      const users = new Map<string, unknown[]>();
      for (const r of recs) {
        users.set(`${r.senderId}/${r.conversationId}`, [
          r.senderId,
          r.conversationId,
          r.recipientId,
          r.seq,
          r.sentAt,
        ]);
        const k = `${r.recipientId}/${r.conversationId}`;
        if (r.conversationType !== 2 && !users.has(k))
          users.set(k, [r.recipientId, r.conversationId, r.senderId, 0, r.sentAt]);
      }
      db.getConnection()
        .then(async (conn) => {
          try {
            await conn.beginTransaction();
            await conn.query(
              `INSERT INTO bench_activity (conversation_id, max_seq, last_sent_at) VALUES ?
               ON DUPLICATE KEY UPDATE last_sent_at = IF(VALUES(max_seq) > max_seq, VALUES(last_sent_at), last_sent_at),
               max_seq = GREATEST(max_seq, VALUES(max_seq))`,
              [
                [...last.values()]
                  .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1))
                  .map((r) => [r.conversationId, r.seq, r.sentAt]),
              ],
            );
            await conn.query(
              `INSERT INTO bench_user_conversations (user_id, conversation_id, peer_id, read_seq, updated_at) VALUES ?
               ON DUPLICATE KEY UPDATE updated_at = IF(VALUES(read_seq) > read_seq, VALUES(updated_at), updated_at),
               read_seq = GREATEST(read_seq, VALUES(read_seq))`,
              [
                [...users.values()].sort((a, b) =>
                  `${a[0]}/${a[1]}` < `${b[0]}/${b[1]}` ? -1 : 1,
                ),
              ],
            );
            await conn.commit();
            cb(null, {});
          } catch (err) {
            await conn.rollback().catch(() => undefined);
            cb(err as Error);
          } finally {
            conn.release();
          }
        })
        .catch((err) => cb(err));
    },
  });
} else {
  throw new Error(`unknown mode ${String(mode)}: send or record`);
}

server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
