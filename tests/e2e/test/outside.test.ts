/**
 * Using im-repo from outside the monorepo, as another repository would: the packed
 * @im-repo/client installed from its tarball with npm, and the grpcurl walkthrough of examples/.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createTestEnvironment, type TestEnvironment } from '@im-repo/testing';
import { expect } from 'chai';
import { Stack } from './stack';

const run = promisify(execFile);
const root = resolve(__dirname, '..', '..', '..');

async function onPath(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

describe('from outside the monorepo', function () {
  // npm installs from the registry and a pack that generates and compiles the client.
  this.timeout(600_000);
  let env: TestEnvironment;
  let stack: Stack;
  const scratch: string[] = [];

  before(async () => {
    env = await createTestEnvironment('outside');
    stack = await Stack.start(env);
  });
  after(async () => {
    await stack?.stop();
    await env?.teardown();
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  it('the packed @im-repo/client installs with npm in a scratch project and calls a service', async () => {
    const packDir = await mkdtemp(join(tmpdir(), 'im-client-pack-'));
    const project = await mkdtemp(join(tmpdir(), 'im-client-user-'));
    scratch.push(packDir, project);
    // prepack generates the code from /proto and compiles it into the tarball.
    await run('pnpm', ['pack', '--pack-destination', packDir], {
      cwd: join(root, 'packages', 'client'),
    });
    const [tarball] = (await readdir(packDir)).filter((f) => f.endsWith('.tgz'));
    expect(tarball, 'pnpm pack wrote a tarball').to.be.a('string');
    const { stdout: listing } = await run('tar', ['-tzf', join(packDir, tarball!)]);
    expect(listing).to.contain('package/dist/gen/im/message/v1/message.js');
    expect(listing).to.contain('package/dist/index.d.ts');
    expect(listing).not.to.contain('package/src/');

    await writeFile(join(project, 'package.json'), '{"name":"scratch","private":true}\n');
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', join(packDir, tarball!), '@grpc/grpc-js@^1.10.0'],
      { cwd: project },
    );
    await writeFile(
      join(project, 'call.js'),
      `const { createUserServiceClient, decodeError } = require('@im-repo/client');
const users = createUserServiceClient(process.argv[2], { timeoutMs: 30000 });
(async () => {
  const username = 'outside' + Date.now();
  const { user } = await users.register({ username, password: 'correct-horse' });
  const { user: read } = await users.getUser({ userId: user.userId });
  const again = await users.register({ username, password: 'correct-horse' }).catch(decodeError);
  const missing = await users.getUser({ userId: 'nobody' }).catch(decodeError);
  console.log(JSON.stringify({ username, read, again, missing }));
  users.close();
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const { stdout } = await run('node', ['call.js', stack.address('user')], { cwd: project });
    const out = JSON.parse(stdout) as {
      username: string;
      read: { username: string; userId: string };
      again: { codeName: string; reason: string; domain: string };
      missing: { codeName: string; reason: string };
    };
    expect(out.read.username).to.equal(out.username);
    expect(out.again).to.include({
      codeName: 'ALREADY_EXISTS',
      reason: 'USERNAME_TAKEN',
      domain: 'im.user.v1',
    });
    expect(out.missing).to.include({ codeName: 'NOT_FOUND', reason: 'USER_NOT_FOUND' });
  });

  it('the grpcurl walkthrough registers, creates a group, sends, pulls, lists and reads', async () => {
    // Debian 12 has no grpcurl package: then the same calls go through a small reflection client.
    const grpcurl = (await onPath('grpcurl'))
      ? 'grpcurl'
      : `node ${join(root, 'tests', 'e2e', 'support', 'grpcurl-lite.mjs')}`;
    const { stdout } = await run('bash', [join(root, 'examples', 'grpcurl', 'walkthrough.sh')], {
      env: {
        ...process.env,
        GRPCURL: grpcurl,
        USER_ADDR: stack.address('user'),
        GROUP_ADDR: stack.address('group'),
        MESSAGE_ADDR: stack.address('message'),
        CONVERSATION_ADDR: stack.address('conversation'),
      },
    });
    expect(stdout).to.match(/^alice=\S+ bob=\S+$/m);
    expect(stdout).to.match(/^group=\S+$/m);
    expect(stdout).to.match(/^sent seq=1$/m);
    expect(stdout).to.match(/^pulled seq=1 from=\S+ content=aGVsbG8=$/m);
    expect(stdout).to.match(/^bob unread=1$/m);
    expect(stdout).to.match(/^bob unread after MarkRead=0$/m);
  });
});
