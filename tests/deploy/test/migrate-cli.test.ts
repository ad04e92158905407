import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadConfig } from '@im-repo/config';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { repoPath, ROOT } from './support/repo';

// `pnpm migrate <service|all> status|up|down` end to end: scripts/migrate.mjs runs the built
// services/user/dist/migrate.js against a fresh database, as an operator would.
interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('migrations CLI (pnpm migrate, on the user service)', function () {
  this.timeout(120_000);
  let env: TestEnvironment;
  let conn: mysql.Connection;

  before(async function () {
    expect(
      existsSync(repoPath('services', 'user', 'dist', 'migrate.js')),
      'user service built',
    ).to.equal(true);
    env = await createTestEnvironment('deploy-migrate');
    const db = loadConfig('user', { file: '' }).db;
    conn = await mysql.createConnection({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
    });
  });

  after(async () => {
    await conn?.end();
    await env?.teardown();
  });

  function cli(
    command: string,
    args: string[],
    extraEnv: Record<string, string> = {},
  ): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: ROOT,
        // DB_* of this machine still apply; only the database is this run's own.
        env: { ...process.env, DB_NAME: env.dbName, CONFIG_FILE: '', ...extraEnv },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }
  const migrate = (...args: string[]) => cli(process.execPath, ['scripts/migrate.mjs', ...args]);

  async function tables(): Promise<string[]> {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?',
      [env.dbName],
    );
    return rows.map((r) => String(r.name)).sort();
  }

  it('status on a fresh database: every migration pending (through `pnpm migrate`)', async () => {
    const result = await cli('pnpm', ['--silent', 'migrate', 'user', 'status']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^\[user\] pending 0001-create-users$/m);
    expect(await tables()).not.to.include('users');
  });

  it('up applies them and creates the tables; status shows them up; up again does nothing', async () => {
    const up = await migrate('user', 'up');
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.include('[user] applied 0001-create-users');
    expect(await tables()).to.include.members(['users', 'user_migrations']);

    const status = await migrate('user', 'status');
    expect(status.stdout).to.match(/^\[user\] up\s+0001-create-users$/m);
    expect(status.stdout).not.to.include('pending');

    const again = await migrate('user', 'up');
    expect(again.code).to.equal(0);
    expect(again.stdout).to.include('[user] already up to date');
  });

  it('down reverts one step (the table is gone, status pending), and up brings it back', async () => {
    const deletion = await migrate('user', 'down');
    expect(deletion.code, deletion.stderr).to.equal(0);
    expect(deletion.stdout).to.include('[user] reverted 0003-add-user-deletion');
    const outbox = await migrate('user', 'down');
    expect(outbox.code, outbox.stderr).to.equal(0);
    expect(outbox.stdout).to.include('[user] reverted 0002-create-user-outbox');
    expect(await tables())
      .to.include('users')
      .and.not.include('user_outbox');
    const down = await migrate('user', 'down');
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.include('[user] reverted 0001-create-users');
    expect(await tables()).not.to.include('users');
    expect((await migrate('user', 'status')).stdout).to.match(
      /^\[user\] pending 0001-create-users$/m,
    );

    const nothing = await migrate('user', 'down');
    expect(nothing.code).to.equal(0);
    expect(nothing.stdout).to.include('[user] nothing to revert');

    const up = await migrate('user', 'up');
    expect(up.stdout).to.include(
      '[user] applied 0001-create-users, 0002-create-user-outbox, 0003-add-user-deletion',
    );
    expect(await tables()).to.include.members(['users', 'user_outbox']);
  });

  it('refuses bad usage with exit 2 and the usage line', async () => {
    for (const args of [['user'], ['user', 'sideways'], ['nobody', 'status']]) {
      const result = await migrate(...args);
      expect(result.code, args.join(' ')).to.equal(2);
      expect(result.stderr).to.include('usage: pnpm migrate <all|');
    }
  });

  it('fails with exit 1, naming the service, when MySQL is unreachable', async () => {
    // Port 1 on loopback refuses at once: the CLI must report, not hang.
    const result = await cli(process.execPath, ['scripts/migrate.mjs', 'user', 'status'], {
      DB_PORT: '1',
      DB_CONNECT_TIMEOUT_MS: '500',
    });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('[user] migrate status failed');
  });
});
