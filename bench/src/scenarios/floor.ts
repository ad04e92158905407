import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '@im-repo/config';
import { ListConversationsRequest } from '@im-repo/proto/conversation';
import { freePort, waitFor } from '@im-repo/testing';
import mysql from 'mysql2/promise';
import { loadClient } from '../clients';
import { fmt, mark, ratio, type BenchContext, type Scenario } from '../scenario';
import { startFlags } from '../stack';
import { listFixture } from './conversation';

const LIST = '/im.conversation.v1.ConversationService/ListConversations';

/** One floor server (src/floor-servers.ts) on a free port, with the services' node flags. */
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
      join(__dirname, '..', 'floor-servers.ts'),
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
        REDIS_PORT: String(base.redis.port),
        REDIS_KEY_PREFIX: ctx.stack.redisPrefix,
      },
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`floor server ${args[0]} exited ${code}`)));
  });
  return { address: `127.0.0.1:${port}`, child };
}

/**
 * The list fixture, its 200 rows written by the conversation service, and every seq key
 * loaded into Redis by one real ListConversations call.
 */
async function readyList(ctx: BenchContext) {
  const request = await listFixture(ctx);
  const { userId } = ListConversationsRequest.decode(request);
  const db = loadConfig('conversation', { file: '' }).db;
  const conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: ctx.stack.dbName,
  });
  try {
    await waitFor(async () => {
      const [[row]] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM user_conversations WHERE user_id = ?',
        [userId],
      );
      return Number(row!.n) >= 200;
    });
  } finally {
    await conn.end();
  }
  const real = loadClient(ctx.stack.addresses.conversation, 1);
  await real.call(0, LIST, request);
  real.close();
  return request;
}

function listFloorScenario(name: string, what: string, hop: boolean): Scenario {
  return {
    name,
    what,
    concurrency: 8,
    unit: 'calls',
    // Only the floor processes and the stores are charged (the services sit idle).
    services: [],
    needs: ['ceiling'],
    async prepare(ctx) {
      const request = await readyList(ctx);
      const heads = hop ? await startFloor(ctx, ['heads']) : undefined;
      const lister = await startFloor(ctx, ['list', heads?.address ?? '-']);
      const pool = loadClient(lister.address, ctx.channels);
      const children = [lister.child, ...(heads ? [heads.child] : [])];
      return {
        op: (w) => pool.call(w, LIST, request).then(() => undefined),
        extraPids: [
          { label: 'floor-list', pid: lister.child.pid! },
          ...(heads ? [{ label: 'floor-heads', pid: heads.child.pid! }] : []),
        ],
        async cleanup() {
          pool.close();
          for (const c of children) c.kill('SIGTERM');
        },
      };
    },
    targets(r, others) {
      const c = others.get('ceiling');
      return c
        ? [
            mark(
              'floor CPU/op <= 20 x ceiling',
              r.cpuUsPerUnit <= 20 * c.cpuUsPerUnit,
              `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
            ),
          ]
        : [];
    },
  };
}

export const listFloor = listFloorScenario(
  'list-floor',
  "list's floor: bare grpc-js + the rows' SELECT + a hop for 200 max_seqs (one MGET) + 20-row answer, c=8",
  true,
);

export const listFloorDirect = listFloorScenario(
  'list-floor-direct',
  'list-floor without the hop: the lister reads the 200 seq keys from Redis itself, c=8',
  false,
);
