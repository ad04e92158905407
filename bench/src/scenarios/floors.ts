// Floors: the irreducible work of a call on this design, done with the cheapest code possible
// and measured like the services (CPU of every process per op, ratio to the ceiling).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '@im-repo/config';
import { ListConversationsRequest } from '@im-repo/proto/conversation';
import { GetUserRequest, GetUserResponse } from '@im-repo/proto/user';
import { createTestEvents, freePort } from '@im-repo/testing';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { Event } from '@im-repo/proto/events';
import { ContentType, ConversationType, MessageStatus } from '@im-repo/proto/message';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { loadClient } from '../clients';
import { mysqlPool, reserveSeqs } from './baselines';
import { pidListeningOn, type Watched } from '../proc-stats';
import { fmt, mark, ratio, type BenchContext, type Result, type Scenario } from '../scenario';
import { startFlags } from '../stack';

const CONVERSATIONS = 200;

/** Starts floor-server.ts in `mode` with the services' node flags; resolves once it listens. */
async function startFloorServer(
  ctx: BenchContext,
  mode: string,
  env: NodeJS.ProcessEnv,
  extra: string[] = [],
) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...startFlags('conversation'),
      ...ctx.stack.nodeFlags,
      '-r',
      'tsx/cjs',
      join(__dirname, '..', 'floor-server.ts'),
      String(port),
      mode,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`floor server (${mode}) exited ${code}`)));
  });
  return { address: `127.0.0.1:${port}`, child };
}

/** The user's 200 rows (the service's table layout) and their seq keys in Redis. */
async function seedList(ctx: BenchContext, prefix: string) {
  const pool = mysqlPool(ctx.stack.dbName, 1);
  await pool.query(`CREATE TABLE IF NOT EXISTS floor_uc (
      user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      conversation_type TINYINT UNSIGNED NOT NULL, peer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      read_seq BIGINT NOT NULL DEFAULT 0, pinned TINYINT(1) NOT NULL DEFAULT 0, muted TINYINT(1) NOT NULL DEFAULT 0,
      hidden_seq BIGINT NOT NULL DEFAULT -1, created_at DATETIME(3) NOT NULL, updated_at DATETIME(3) NOT NULL,
      frozen_seq BIGINT NULL DEFAULT NULL, frozen_at DATETIME(3) NULL DEFAULT NULL, cleared_seq BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (user_id, conversation_id)) ENGINE=InnoDB`);
  await pool.query(`CREATE TABLE IF NOT EXISTS floor_activity (
      conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
      max_seq BIGINT NOT NULL, last_sent_at DATETIME(3) NOT NULL, updated_at DATETIME(3) NOT NULL) ENGINE=InnoDB`);
  const owner = '01JFLOOROWNER0000000000000';
  const ids = Array.from(
    { length: CONVERSATIONS },
    (_, i) => `si_${owner}_01JFLOORPEER${String(i).padStart(14, '0')}`,
  );
  // Like the list scenario's data: every conversation unread by one, half of them answered.
  await pool.query(
    'INSERT IGNORE INTO floor_uc (user_id, conversation_id, conversation_type, peer_id, read_seq, created_at, updated_at) VALUES ?',
    [ids.map((id, i) => [owner, id, 1, `peer${i}`, i % 2, new Date(), new Date()])],
  );
  await pool.query(
    'INSERT IGNORE INTO floor_activity (conversation_id, max_seq, last_sent_at, updated_at) VALUES ?',
    [ids.map((id, i) => [id, 1 + (i % 2), new Date(Date.now() - i * 1000), new Date()])],
  );
  await pool.end();
  const redisCfg = loadConfig('message', { file: '' }).redis;
  const redis = new Redis({ host: redisCfg.host, port: redisCfg.port });
  await redis.mset(ids.flatMap((id, i) => [`${prefix}conv:{${id}}:seq`, String(1 + (i % 2))]));
  return {
    owner,
    async drop() {
      await redis.del(ids.map((id) => `${prefix}conv:{${id}}:seq`));
      redis.disconnect();
    },
  };
}

function listFloor(name: string, direct: boolean): Scenario {
  return {
    name,
    what: direct
      ? 'list floor without the second service: bare gRPC + SELECT 200 rows + one MGET + a 20-row page, c=8'
      : 'list floor: bare gRPC + SELECT 200 rows + one hop (200 ids -> MGET -> 200 max_seqs) + a 20-row page, c=8',
    concurrency: 8,
    unit: 'calls',
    services: [],
    needs: ['ceiling'],
    async prepare(ctx) {
      const prefix = `${ctx.stack.redisPrefix}floor:`;
      const env = { FLOOR_DB: ctx.stack.dbName, FLOOR_PREFIX: prefix };
      const seeded = await seedList(ctx, prefix);
      const procs: { child: ReturnType<typeof spawn> }[] = [];
      const watched: Watched[] = [];
      let headsAddress: string[] = [];
      if (!direct) {
        const heads = await startFloorServer(ctx, 'heads', env);
        procs.push(heads);
        watched.push({ label: 'floor-heads', pid: heads.child.pid! });
        headsAddress = [heads.address];
      }
      const front = await startFloorServer(
        ctx,
        direct ? 'front-direct' : 'front',
        env,
        headsAddress,
      );
      procs.push(front);
      watched.push({ label: 'floor-front', pid: front.child.pid! });
      const request = Buffer.from(
        ListConversationsRequest.encode({
          userId: seeded.owner,
          pageSize: 20,
          pageToken: '',
        }).finish(),
      );
      const pool = loadClient(front.address, ctx.channels);
      return {
        op: (w) =>
          pool
            .call(w, '/im.conversation.v1.ConversationService/ListConversations', request)
            .then(() => undefined),
        extraPids: watched,
        async cleanup() {
          pool.close();
          for (const p of procs) p.child.kill('SIGTERM');
          await seeded.drop();
        },
      };
    },
    targets: (r, others) => ceilingRatio(r, others, 20),
  };
}

function ceilingRatio(r: Result, others: Map<string, Result>, times: number) {
  const c = others.get('ceiling');
  if (!c) return [];
  return [
    mark(
      `CPU/op <= ${times} x ceiling`,
      r.cpuUsPerUnit <= times * c.cpuUsPerUnit,
      `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
    ),
  ];
}

/**
 * GetUser's floor: the ceiling's call plus one Redis GET of the user's encoded answer (what a
 * cache hit cannot do without), on the ceiling's 1,000 varied requests.
 */
export const getUserFloor: Scenario = {
  name: 'getuser-floor',
  what: 'getuser floor: bare gRPC + one Redis GET of the encoded answer, sent as is, c=64',
  concurrency: 64,
  unit: 'calls',
  services: [],
  needs: ['ceiling'],
  async prepare(ctx) {
    const prefix = `${ctx.stack.redisPrefix}floor:`;
    const ids = Array.from({ length: 1000 }, (_, i) => `ceiling-${i}`);
    const redisCfg = loadConfig('user', { file: '' }).redis;
    const redis = new Redis({ host: redisCfg.host, port: redisCfg.port });
    // A user as the service stores it: ULID-sized id, names, two timestamps.
    const answer = (i: number) =>
      Buffer.from(
        GetUserResponse.encode({
          user: {
            userId: `01JFLOORUSER${String(i).padStart(14, '0')}`,
            username: `floor_user_${i}`,
            nickname: `Floor User ${i}`,
            avatarUrl: '',
            createdAt: new Date(),
            updatedAt: new Date(),
          },
        }).finish(),
      );
    await redis.mset(ids.flatMap((id, i) => [`${prefix}user:${id}`, answer(i)]));
    const server = await startFloorServer(ctx, 'user', { FLOOR_PREFIX: prefix });
    const requests = ids.map((userId) => Buffer.from(GetUserRequest.encode({ userId }).finish()));
    const pool = loadClient(server.address, ctx.channels);
    return {
      op: (w, i) =>
        pool
          .call(w, '/im.user.v1.UserService/GetUser', requests[(w * 7919 + i) % requests.length]!)
          .then(() => undefined),
      extraPids: [{ label: 'floor-user', pid: server.child.pid! }],
      async cleanup() {
        pool.close();
        server.child.kill('SIGTERM');
        await redis.del(ids.map((id) => `${prefix}user:${id}`));
        redis.disconnect();
      },
    };
  },
  targets: (r, others) => ceilingRatio(r, others, 1.8),
};

/**
 * The change events' floor per message: one JetStream publish of a message.created event with
 * its Nats-Msg-Id, acknowledged, straight from nats.js (no outbox, no service), 64 in flight
 * from one connection like the publisher's. The load client's CPU (`client us`) is nats.js's
 * side, the NATS column the server's; a message's events can cost no less than their sum.
 */
export const publishFloor: Scenario = {
  name: 'publish-floor',
  what: 'events floor: one JetStream publish + ack per message.created event (nats.js, msgID), c=64',
  concurrency: 64,
  unit: 'calls',
  services: [],
  needs: ['ceiling'],
  async prepare() {
    const events = await createTestEvents();
    await events.jsm.streams.add({ name: events.stream, subjects: [`${events.prefix}.>`] });
    const nc = await connect({ servers: events.natsUrl, noAsyncTraces: true });
    const js = jetstream(nc);
    // The size of the send scenario's event: its message, ids and times.
    const event = (conversation: number, seq: number) =>
      Event.encode({
        eventId: randomBytes(13).toString('hex').slice(0, 26),
        occurredAt: new Date(),
        payload: {
          $case: 'messageCreated',
          value: {
            message: {
              serverMsgId: randomBytes(13).toString('hex').slice(0, 26),
              clientMsgId: `c${conversation}-${seq}`,
              conversationId: `si_01JFLOORA${String(conversation).padStart(16, '0')}_01JFLOORB${String(conversation).padStart(16, '0')}`,
              conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
              seq,
              senderId: `01JFLOORA${String(conversation).padStart(17, '0')}`,
              recipientId: `01JFLOORB${String(conversation).padStart(17, '0')}`,
              contentType: ContentType.CONTENT_TYPE_TEXT,
              content: Buffer.from('The quick brown fox jumps over the lazy dog. 你好，世界！'),
              status: MessageStatus.MESSAGE_STATUS_NORMAL,
              sentAt: new Date(),
            },
          },
        },
      }).finish();
    const template = Array.from({ length: 1000 }, (_, c) => event(c, 1));
    const nats = pidListeningOn(Number(new URL(events.natsUrl).port || 4222));
    let n = 0;
    return {
      op: async (w, i) => {
        const c = (w * 7919 + i) % template.length;
        await js.publish(`${events.prefix}.message.created.c${c}`, template[c]!, {
          msgID: `${process.pid}-${n++}`,
        });
      },
      extraPids: nats.map((pid) => ({ label: 'nats-server', pid })),
      async cleanup() {
        await nc.drain();
        await events.teardown();
      },
    };
  },
  // A floor, not a feature: what it shows is read against send-events (docs/benchmarks.md).
  targets: () => [],
};

export const listFloorHop = listFloor('list-floor', false);
export const listFloorDirect = listFloor('list-floor-direct', true);

const SEND_DDL = [
  `CREATE TABLE IF NOT EXISTS floor_seqs (conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
     max_seq BIGINT NOT NULL, updated_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS floor_messages (conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
     seq BIGINT NOT NULL, server_msg_id VARCHAR(32) CHARACTER SET ascii NOT NULL, sender_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
     client_msg_id VARCHAR(64) NOT NULL, content MEDIUMBLOB NOT NULL, sent_at DATETIME(3) NOT NULL,
     PRIMARY KEY (conversation_id, seq), UNIQUE KEY (server_msg_id), UNIQUE KEY (sender_id, client_msg_id)) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS floor_outbox (id BIGINT AUTO_INCREMENT PRIMARY KEY, topic VARCHAR(64) NOT NULL,
     payload MEDIUMBLOB NOT NULL, created_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS floor_send_uc (user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
     conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, conversation_type TINYINT UNSIGNED NOT NULL,
     peer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, read_seq BIGINT NOT NULL DEFAULT 0,
     created_at DATETIME(3) NOT NULL, updated_at DATETIME(3) NOT NULL, PRIMARY KEY (user_id, conversation_id)) ENGINE=InnoDB`,
];

const PER_COMMIT = 21;
let sendCounter = 0;

/** One send commit of 21 single-chat messages and the conversation side's rows for them. */
async function sendCommit(pool: mysql.Pool) {
  const rows = Array.from({ length: PER_COMMIT }, () => {
    const k = sendCounter++;
    const a = k % 1000;
    return {
      cid: `si_f${a}_f${a + 1}`,
      sender: `f${a}`,
      peer: `f${a + 1}`,
      client: `c${k}-${process.pid}`,
    };
  });
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.cid, (counts.get(r.cid) ?? 0) + 1);
  const conn = await pool.getConnection();
  let outboxId: number;
  try {
    await conn.beginTransaction();
    const next = await reserveSeqs(conn, 'floor_seqs', counts);
    const now = new Date();
    const values = rows.map((r) => {
      const seq = next.get(r.cid)!;
      next.set(r.cid, seq + 1);
      return [
        r.cid,
        seq,
        `m${r.client}`.slice(0, 32),
        r.sender,
        r.client,
        Buffer.from('hello bench'),
        now,
      ];
    });
    await conn.query(
      'INSERT INTO floor_messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, content, sent_at) VALUES ?',
      [values],
    );
    // The commit's record for the conversation service, through the outbox.
    const [ins] = await conn.query<mysql.ResultSetHeader>(
      'INSERT INTO floor_outbox (topic, payload, created_at) VALUES (?, ?, NOW(3))',
      ['record', Buffer.alloc(PER_COMMIT * 60)],
    );
    outboxId = ins.insertId;
    await conn.commit();
    // The conversation side: two per-user rows per message, then the outbox row goes.
    await conn.query(
      `INSERT INTO floor_send_uc (user_id, conversation_id, conversation_type, peer_id, read_seq, created_at, updated_at) VALUES ?
       ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), read_seq = GREATEST(read_seq, VALUES(read_seq))`,
      [
        rows.flatMap((r, i) => [
          [r.sender, r.cid, 1, r.peer, values[i]![1], now, now],
          [r.peer, r.cid, 1, r.sender, 0, now, now],
        ]),
      ],
    );
    await conn.query('DELETE FROM floor_outbox WHERE id = ?', [outboxId]);
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
  return PER_COMMIT;
}

export const sendFloorSql: Scenario = {
  name: 'send-floor-sql',
  what: 'send floor, SQL only: commits of 21 single-chat messages (seq upsert, insert, outbox row in + out, 42 per-user upserts), 3 connections',
  concurrency: 3,
  unit: 'messages',
  services: [],
  needs: ['ceiling'],
  async prepare(ctx) {
    const pool = mysqlPool(ctx.stack.dbName, 3);
    for (const ddl of SEND_DDL) await pool.query(ddl);
    return { op: () => sendCommit(pool), cleanup: () => pool.end() };
  },
  targets(r, others) {
    const c = others.get('ceiling');
    if (!c) return [];
    // Per message one ingress call (the ceiling) and per commit one hop (a call's server side
    // plus a grpc-js client's, about two ceilings): added, not run, to the SQL measured here and
    // to the mysql2 client's own CPU (the client column), which a service would spend itself.
    const floor =
      r.cpuUsPerUnit + (r.clientCpuUsPerUnit ?? 0) + c.cpuUsPerUnit * (1 + 2 / PER_COMMIT);
    r.notes = {
      ...r.notes,
      'floor us/msg (sql + ingress + hop)': Math.round(floor),
      'floor x ceiling': fmt(ratio(floor, c.cpuUsPerUnit)),
    };
    return [
      mark(
        'floor CPU/msg <= 5 x ceiling',
        floor <= 5 * c.cpuUsPerUnit,
        `${fmt(ratio(floor, c.cpuUsPerUnit))} x`,
      ),
    ];
  },
};
