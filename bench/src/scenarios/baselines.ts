import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '@im-repo/config';
import { GetUserRequest } from '@im-repo/proto/user';
import { freePort } from '@im-repo/testing';
import mysql from 'mysql2/promise';
import { loadClient } from '../clients';
import { type Scenario } from '../scenario';
import { startFlags } from '../stack';

export const ceiling: Scenario = {
  name: 'ceiling',
  what: "no-op unary rpc on a bare grpc-js server, run with the services' node flags (same client)",
  concurrency: 64,
  unit: 'calls',
  services: [],
  async prepare(ctx) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        // The services' own heap flag (and any --node-flags): GC sizing is part of per-call cost.
        ...startFlags('user'),
        ...ctx.stack.nodeFlags,
        '-r',
        'tsx/cjs',
        join(__dirname, '..', 'ceiling-server.ts'),
        String(port),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`ceiling server exited ${code}`)));
    });
    const pool = loadClient(`127.0.0.1:${port}`, ctx.channels);
    // Varied per call like getuser's, though the server ignores it: same client work.
    const requests = Array.from({ length: 1000 }, (_, i) =>
      Buffer.from(GetUserRequest.encode({ userId: `ceiling-${i}` }).finish()),
    );
    return {
      op: (w, i) =>
        pool
          .call(w, '/im.user.v1.UserService/GetUser', requests[(w * 7919 + i) % requests.length]!)
          .then(() => undefined),
      extraPids: [{ label: 'ceiling-server', pid: child.pid! }],
      async cleanup() {
        pool.close();
        child.kill('SIGTERM');
      },
    };
  },
  targets: () => [],
};

export const DDL = [
  `CREATE TABLE IF NOT EXISTS bench_seqs (conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
     max_seq BIGINT NOT NULL, updated_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS bench_messages (conversation_id VARCHAR(140) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
     seq BIGINT NOT NULL, server_msg_id VARCHAR(32) CHARACTER SET ascii NOT NULL, sender_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
     client_msg_id VARCHAR(64) NOT NULL, content MEDIUMBLOB NOT NULL, sent_at DATETIME(3) NOT NULL,
     PRIMARY KEY (conversation_id, seq), UNIQUE KEY (server_msg_id), UNIQUE KEY (sender_id, client_msg_id)) ENGINE=InnoDB`,
];

/** A mysql2 pool on the run's database (no config file, as for the services the bench starts). */
export function mysqlPool(dbName: string, connections: number): mysql.Pool {
  const db = loadConfig('user', { file: '' }).db;
  return mysql.createPool({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: dbName,
    connectionLimit: connections,
  });
}

async function rawPool(dbName: string, connections: number) {
  const pool = mysqlPool(dbName, connections);
  for (const ddl of DDL) await pool.query(ddl);
  return pool;
}

/**
 * Takes counts.get(id) seqs per conversation from `table` (conversation_id, max_seq, updated_at)
 * in the caller's transaction, as the message service's seq upsert does; returns each
 * conversation's first new seq.
 */
export async function reserveSeqs(
  conn: mysql.PoolConnection,
  table: string,
  counts: Map<string, number>,
): Promise<Map<string, number>> {
  const cids = [...counts.keys()].sort();
  await conn.query(
    `INSERT INTO ${table} (conversation_id, max_seq, updated_at) VALUES ${cids.map(() => '(?, ?, NOW(3))').join(',')}
     ON DUPLICATE KEY UPDATE max_seq = max_seq + VALUES(max_seq), updated_at = VALUES(updated_at)`,
    cids.flatMap((c) => [c, counts.get(c)]),
  );
  const [maxRows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT conversation_id, max_seq FROM ${table} WHERE conversation_id IN (?)`,
    [cids],
  );
  return new Map(
    maxRows.map((r) => [
      r.conversation_id as string,
      Number(r.max_seq) - counts.get(r.conversation_id)! + 1,
    ]),
  );
}

let rawCounter = 0;
/** One transaction storing `n` messages the way the message service must: seq row + rows. */
async function storeBatch(conn: mysql.PoolConnection, n: number, conversations: number) {
  const byConversation = new Map<string, number>();
  const rows: { cid: string; sender: string; client: string }[] = [];
  for (let i = 0; i < n; i++) {
    const k = rawCounter++;
    const cid = `si_r${k % conversations}_r${(k % conversations) + 1}`;
    byConversation.set(cid, (byConversation.get(cid) ?? 0) + 1);
    rows.push({ cid, sender: `r${k % conversations}`, client: `c${k}-${process.pid}` });
  }
  await conn.beginTransaction();
  try {
    const next = await reserveSeqs(conn, 'bench_seqs', byConversation);
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
        new Date(),
      ];
    });
    await conn.query(
      'INSERT INTO bench_messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, content, sent_at) VALUES ?',
      [values],
    );
    await conn.commit();
  } catch (err) {
    await conn.rollback();
    throw err;
  }
}

export const rawTxn: Scenario = {
  name: 'raw-txn',
  what: 'mysql2 alone: one transaction per message (seq row + insert + commit), 64 connections',
  concurrency: 64,
  unit: 'messages',
  services: [],
  async prepare(ctx) {
    const pool = await rawPool(ctx.stack.dbName, 64);
    return {
      op: async () => {
        const conn = await pool.getConnection();
        try {
          await storeBatch(conn, 1, 1000);
        } finally {
          conn.release();
        }
      },
      cleanup: () => pool.end(),
    };
  },
  targets: () => [],
};

export const rawBatch: Scenario = {
  name: 'raw-batch',
  what: 'mysql2 alone: 128 messages per transaction (one seq upsert, one multi-row insert)',
  concurrency: 8,
  unit: 'messages',
  services: [],
  async prepare(ctx) {
    const pool = await rawPool(ctx.stack.dbName, 8);
    return {
      op: async () => {
        const conn = await pool.getConnection();
        try {
          await storeBatch(conn, 128, 1000);
          return 128;
        } finally {
          conn.release();
        }
      },
      cleanup: () => pool.end(),
    };
  },
  targets: () => [],
};
