import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '@im-repo/config';
import { ConversationType } from '@im-repo/proto/message';
import { freePort } from '@im-repo/testing';
import mysql from 'mysql2/promise';
import { loadClient } from '../clients';
import { fmt, mark, ratio, type BenchContext, type Scenario } from '../scenario';
import { startFlags } from '../stack';
import { DDL } from './baselines';
import { SendTemplate } from './message';

/** One floor server (src/send-floor-servers.ts) on a free port, with the services' node flags. */
async function startFloor(ctx: BenchContext, args: string[]) {
  const port = await freePort();
  const base = loadConfig('conversation', { file: '' });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...startFlags('conversation'),
      ...ctx.stack.nodeFlags,
      '-r',
      'tsx/cjs',
      join(__dirname, '..', 'send-floor-servers.ts'),
      args[0]!,
      String(port),
      ...args.slice(1),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        DB_HOST: base.db.host,
        DB_PORT: String(base.db.port),
        DB_USER: base.db.user,
        DB_PASSWORD: base.db.password,
        DB_NAME: ctx.stack.dbName,
      },
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`floor server ${args[0]} exited ${code}`)));
  });
  return { address: `127.0.0.1:${port}`, child };
}

const SEND_DDL = [
  ...DDL,
  `CREATE TABLE IF NOT EXISTS bench_outbox (id VARCHAR(64) CHARACTER SET ascii PRIMARY KEY,
     payload MEDIUMBLOB NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS bench_activity (conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
     max_seq BIGINT NOT NULL, last_sent_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS bench_user_conversations (user_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
     conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, peer_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
     read_seq BIGINT NOT NULL, updated_at DATETIME(3) NOT NULL, PRIMARY KEY (user_id, conversation_id)) ENGINE=InnoDB`,
];

let sendRun = 0;

/**
 * The floor of `send` (1,000 single chats) or, hot, of `send-hot-group` (every message to one
 * group's conversation: one seq row, the sender's row only; no permission check).
 */
function sendFloorScenario(hot: boolean): Scenario {
  return {
    name: hot ? 'send-hot-group-floor' : 'send-floor',
    what: hot
      ? "send-hot-group's floor: send-floor's path with every message to one group, no permission check, c=64"
      : "send's floor: bare grpc-js SendMessage, commits of <= 21 (seq, message, outbox rows), RecordMessages hop per commit, c=64",
    concurrency: 64,
    unit: 'calls',
    services: [],
    needs: ['ceiling'],
    async prepare(ctx) {
      const db = loadConfig('message', { file: '' }).db;
      const conn = await mysql.createConnection({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: ctx.stack.dbName,
      });
      for (const ddl of SEND_DDL) await conn.query(ddl);
      const record = await startFloor(ctx, ['record']);
      const sender = await startFloor(ctx, ['send', record.address]);
      const users = Array.from({ length: 1001 }, (_, i) => `floor${String(i).padStart(5, '0')}`);
      const run = `f${sendRun++}-${Date.now().toString(36)}`;
      const group = `floorhot-${run}`;
      const templates = users
        .slice(0, 1000)
        .map((u, k) =>
          hot
            ? new SendTemplate(u, ConversationType.CONVERSATION_TYPE_GROUP, group)
            : new SendTemplate(u, ConversationType.CONVERSATION_TYPE_SINGLE, users[k + 1]!),
        );
      const pool = loadClient(sender.address, ctx.channels);
      return {
        op: async (w, i) => {
          const k = (w * 1_000_003 + i) % 1000;
          await pool.call(
            w,
            '/im.message.v1.MessageService/SendMessage',
            templates[k]!.with(`${run}-${w}-${i}`),
          );
        },
        extraPids: [
          { label: 'floor-send', pid: sender.child.pid! },
          { label: 'floor-record', pid: record.child.pid! },
        ],
        async verify() {
          const [rows] = await conn.query<mysql.RowDataPacket[]>(
            `SELECT s.conversation_id, s.max_seq, COUNT(m.seq) AS n, MAX(m.seq) AS top
           FROM bench_seqs s JOIN bench_messages m ON m.conversation_id = s.conversation_id
           WHERE s.conversation_id LIKE ? GROUP BY s.conversation_id, s.max_seq`,
            [hot ? `sg_${group}` : 'si_floor%'],
          );
          const bad = rows.find(
            (r) => Number(r.n) !== Number(r.max_seq) || Number(r.top) !== Number(r.max_seq),
          );
          return bad
            ? `conversation ${String(bad.conversation_id)}: max_seq ${String(bad.max_seq)}, ${String(bad.n)} rows`
            : `gapless (${rows.length} conversations)`;
        },
        async cleanup() {
          pool.close();
          sender.child.kill('SIGTERM');
          record.child.kill('SIGTERM');
          await conn.end();
        },
      };
    },
    targets(r, others) {
      const c = others.get('ceiling');
      if (hot)
        return c
          ? [
              mark(
                'floor >= 0.3 x ceiling',
                r.throughput >= 0.3 * c.throughput,
                `${fmt(ratio(r.throughput, c.throughput))} x`,
              ),
            ]
          : [];
      return c
        ? [
            mark(
              'floor CPU/op <= 5 x ceiling',
              r.cpuUsPerUnit <= 5 * c.cpuUsPerUnit,
              `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
            ),
            mark(
              'floor >= 0.4 x ceiling',
              r.throughput >= 0.4 * c.throughput,
              `${fmt(ratio(r.throughput, c.throughput))} x`,
            ),
          ]
        : [];
    },
  };
}

export const sendFloor = sendFloorScenario(false);
export const sendHotGroupFloor = sendFloorScenario(true);
