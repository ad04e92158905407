import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import {
  decodeGrpcError,
  expectGrpcError,
  GrpcStatus,
  healthCheck,
  type TestEnvironment,
} from '@im-repo/testing';
import { useUserSuite, startUserService, uniqueName } from './harness';

const PASSWORD = 'correct-horse';

describe('UserService', () => {
  let env: TestEnvironment;
  let svc: Awaited<ReturnType<typeof startUserService>>;
  const logLines: string[] = [];

  const suite = useUserSuite('user');
  before(async () => {
    ({ env, svc } = await suite.start({
      user: { login_max_failures: 5, login_window_seconds: 900 },
    }));
    // Capture every log line this instance writes, at debug level, to check nothing secret leaks.
    svc.ctx.logger.level = 'debug';
    svc.ctx.logger.add(
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk, _enc, done) {
            logLines.push(String(chunk));
            done();
          },
        }),
      }),
    );
  });

  const register = (overrides: Partial<Parameters<typeof svc.client.register>[0]> = {}) =>
    svc.client.register({
      userId: '',
      username: uniqueName(),
      password: PASSWORD,
      nickname: '',
      avatarUrl: '',
      ...overrides,
    });

  describe('Register', () => {
    it('creates a user with a generated time-ordered id and nickname defaulting to username', async () => {
      const { user } = await register();
      const { user: second } = await register();
      expect(user!.userId).to.match(/^[0-9A-Z]{26}$/);
      expect(second!.userId > user!.userId).to.equal(true);
      expect(user!.nickname).to.equal(user!.username);
      expect(user!.createdAt).to.be.instanceOf(Date);
      expect(user!.updatedAt!.getTime()).to.equal(user!.createdAt!.getTime());
    });

    it('keeps a caller-chosen id, nickname and avatar', async () => {
      const userId = `id-${uniqueName()}`;
      const { user } = await register({
        userId,
        nickname: '小明 🐱',
        avatarUrl: 'https://a/b.png',
      });
      expect(user).to.include({ userId, nickname: '小明 🐱', avatarUrl: 'https://a/b.png' });
    });

    it('rejects a taken username case-insensitively with USERNAME_TAKEN', async () => {
      const name = uniqueName('Case');
      await register({ username: name });
      await expectGrpcError(
        register({ username: name.toLowerCase() }),
        GrpcStatus.ALREADY_EXISTS,
        'USERNAME_TAKEN',
      );
      await expectGrpcError(
        register({ username: name.toUpperCase() }),
        GrpcStatus.ALREADY_EXISTS,
        'USERNAME_TAKEN',
      );
    });

    it('rejects a taken user_id with USER_ID_TAKEN', async () => {
      const userId = `dup-${uniqueName()}`;
      await register({ userId });
      await expectGrpcError(register({ userId }), GrpcStatus.ALREADY_EXISTS, 'USER_ID_TAKEN');
    });

    it('lets exactly one of many concurrent registrations of a username win', async () => {
      const username = uniqueName('race');
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => register({ username })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
    });

    const bad: [string, Record<string, string>][] = [
      ['username', { username: '' }],
      ['username', { username: 'ab' }],
      ['username', { username: 'a'.repeat(33) }],
      ['username', { username: 'bad name' }],
      ['username', { username: 'émile' }],
      ['password', { password: '' }],
      ['password', { password: '1234567' }],
      ['password', { password: 'x'.repeat(129) }],
      ['nickname', { nickname: 'n'.repeat(65) }],
      ['avatar_url', { avatarUrl: 'h'.repeat(1025) }],
      ['user_id', { userId: 'has_underscore' }],
      ['user_id', { userId: 'x'.repeat(65) }],
      ['user_id', { userId: 'spa ce' }],
    ];
    for (const [field, input] of bad) {
      it(`rejects ${field}=${JSON.stringify(Object.values(input)[0]).slice(0, 20)} with INVALID_ARGUMENT naming the field`, async () => {
        const err = await expectGrpcError(
          register(input),
          GrpcStatus.INVALID_ARGUMENT,
          'INVALID_ARGUMENT',
        );
        expect(err.metadata.field).to.equal(field);
        expect(err.domain).to.equal('im.user.v1');
      });
    }

    it('accepts the boundaries: 3 and 32 char usernames, 8 and 128 char passwords, 64 code point nickname', async () => {
      await register({ username: `${uniqueName('b').slice(0, 3)}` });
      const long = uniqueName('L');
      await register({ username: long + 'x'.repeat(32 - long.length) });
      await register({ password: 'p'.repeat(8) });
      await register({ password: 'p'.repeat(128) });
      await register({ nickname: '😀'.repeat(64) });
    });

    it('stores passwords only as scrypt hashes', async () => {
      const { user } = await register({ password: 'plain-text-secret' });
      const [row] = (await svc.deps.sequelize.query(
        'SELECT password_hash FROM users WHERE user_id = ?',
        {
          replacements: [user!.userId],
          type: 'SELECT',
        },
      )) as { password_hash: string }[];
      expect(row!.password_hash).to.match(/^scrypt\$\d+\$8\$1\$/);
      expect(row!.password_hash).not.to.include('plain-text-secret');
    });
  });

  describe('Login', () => {
    it('returns the user for the right password, username case-insensitive', async () => {
      const { user } = await register({ username: uniqueName('Log') });
      const { user: loggedIn } = await svc.client.login({
        username: user!.username.toUpperCase(),
        password: PASSWORD,
      });
      expect(loggedIn!.userId).to.equal(user!.userId);
    });

    it('gives the same UNAUTHENTICATED error for a wrong password and an unknown username', async () => {
      const { user } = await register();
      const wrong = await expectGrpcError(
        svc.client.login({ username: user!.username, password: 'wrong-password' }),
        GrpcStatus.UNAUTHENTICATED,
        'INVALID_CREDENTIALS',
      );
      const unknown = await expectGrpcError(
        svc.client.login({ username: uniqueName('nobody'), password: 'wrong-password' }),
        GrpcStatus.UNAUTHENTICATED,
        'INVALID_CREDENTIALS',
      );
      const malformed = await expectGrpcError(
        svc.client.login({ username: 'no such user!', password: 'wrong-password' }),
        GrpcStatus.UNAUTHENTICATED,
        'INVALID_CREDENTIALS',
      );
      expect(unknown.message).to.equal(wrong.message);
      expect(malformed.message).to.equal(wrong.message);
      expect(unknown.metadata).to.deep.equal(wrong.metadata);
    });

    it('rejects an empty username or password with INVALID_ARGUMENT', async () => {
      const a = await expectGrpcError(
        svc.client.login({ username: '', password: 'x' }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(a.metadata.field).to.equal('username');
      const b = await expectGrpcError(
        svc.client.login({ username: 'x', password: '' }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(b.metadata.field).to.equal('password');
    });

    it('locks a username after 5 failures, even for the right password, counting any case', async () => {
      const { user } = await register({ username: uniqueName('Lock') });
      for (let i = 0; i < 5; i++) {
        const name = i % 2 ? user!.username.toLowerCase() : user!.username.toUpperCase();
        await expectGrpcError(
          svc.client.login({ username: name, password: `wrong-${i}-pass` }),
          GrpcStatus.UNAUTHENTICATED,
        );
      }
      await expectGrpcError(
        svc.client.login({ username: user!.username, password: PASSWORD }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'TOO_MANY_ATTEMPTS',
      );
    });

    it('locks an unknown username the same way (the limiter reveals nothing)', async () => {
      const name = uniqueName('ghost');
      for (let i = 0; i < 5; i++) {
        await expectGrpcError(
          svc.client.login({ username: name, password: 'whatever-1' }),
          GrpcStatus.UNAUTHENTICATED,
        );
      }
      await expectGrpcError(
        svc.client.login({ username: name, password: 'whatever-1' }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'TOO_MANY_ATTEMPTS',
      );
    });

    it('counts concurrent failures exactly: 20 parallel wrong guesses let at most 5 through', async () => {
      const { user } = await register();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          svc.client.login({ username: user!.username, password: 'wrong-guess' }),
        ),
      );
      const codes = await Promise.all(
        results.map((r) =>
          expectGrpcError(
            Promise.reject((r as PromiseRejectedResult).reason),
            r.status === 'rejected'
              ? ((r as PromiseRejectedResult).reason as { code: number }).code
              : 0,
          ),
        ),
      );
      expect(codes.filter((c) => c.code === GrpcStatus.UNAUTHENTICATED)).to.have.length(5);
      expect(codes.filter((c) => c.code === GrpcStatus.RESOURCE_EXHAUSTED)).to.have.length(15);
    });

    it('resets the count on success', async () => {
      const { user } = await register();
      for (let i = 0; i < 4; i++) {
        await expectGrpcError(
          svc.client.login({ username: user!.username, password: 'wrong-pass' }),
          GrpcStatus.UNAUTHENTICATED,
        );
      }
      await svc.client.login({ username: user!.username, password: PASSWORD });
      for (let i = 0; i < 4; i++) {
        await expectGrpcError(
          svc.client.login({ username: user!.username, password: 'wrong-pass' }),
          GrpcStatus.UNAUTHENTICATED,
        );
      }
      await svc.client.login({ username: user!.username, password: PASSWORD });
    });

    it('unlocks when the window passes (configurable window)', async () => {
      const short = await startUserService(env, {
        // Long enough that a loaded machine still makes the three calls inside one window.
        user: { login_max_failures: 2, login_window_seconds: 2 },
      });
      try {
        const { user } = await short.client.register({
          userId: '',
          username: uniqueName(),
          password: PASSWORD,
          nickname: '',
          avatarUrl: '',
        });
        for (let i = 0; i < 2; i++) {
          await expectGrpcError(
            short.client.login({ username: user!.username, password: 'wrong-pass' }),
            GrpcStatus.UNAUTHENTICATED,
          );
        }
        await expectGrpcError(
          short.client.login({ username: user!.username, password: PASSWORD }),
          GrpcStatus.RESOURCE_EXHAUSTED,
        );
        await new Promise((r) => setTimeout(r, 2100));
        const { user: ok } = await short.client.login({
          username: user!.username,
          password: PASSWORD,
        });
        expect(ok!.userId).to.equal(user!.userId);
      } finally {
        await short.stop();
      }
    });
  });

  describe('GetUser and BatchGetUsers', () => {
    it('GetUser returns the user; unknown is NOT_FOUND USER_NOT_FOUND', async () => {
      const { user } = await register();
      expect((await svc.client.getUser({ userId: user!.userId })).user).to.deep.equal(user);
      await expectGrpcError(
        svc.client.getUser({ userId: 'nobody-here' }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      await expectGrpcError(svc.client.getUser({ userId: '' }), GrpcStatus.INVALID_ARGUMENT);
    });

    it('a user registered after a NOT_FOUND lookup is found at once (negative cache invalidated)', async () => {
      const userId = `late-${uniqueName()}`;
      await expectGrpcError(svc.client.getUser({ userId }), GrpcStatus.NOT_FOUND);
      await register({ userId });
      expect((await svc.client.getUser({ userId })).user!.userId).to.equal(userId);
    });

    it('BatchGetUsers keeps request order, omits unknown ids, collapses duplicates', async () => {
      const a = (await register()).user!;
      const b = (await register()).user!;
      const c = (await register()).user!;
      await svc.client.getUser({ userId: b.userId }); // one cached, others not
      const { users } = await svc.client.batchGetUsers({
        userIds: [c.userId, 'missing-1', a.userId, c.userId, b.userId],
      });
      expect(users.map((u) => u.userId)).to.deep.equal([c.userId, a.userId, b.userId]);
      expect(users[0]).to.deep.equal(c);
    });

    it('BatchGetUsers takes 500 ids, rejects 501, answers [] for []', async () => {
      const ids = Array.from({ length: 500 }, (_, i) => `x${i}`);
      expect((await svc.client.batchGetUsers({ userIds: ids })).users).to.deep.equal([]);
      const err = await expectGrpcError(
        svc.client.batchGetUsers({ userIds: [...ids, 'one-more'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(err.metadata.field).to.equal('user_ids');
      expect((await svc.client.batchGetUsers({ userIds: [] })).users).to.deep.equal([]);
      const bad = await expectGrpcError(
        svc.client.batchGetUsers({ userIds: ['ok', 'not_ok'] }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(bad.metadata.field).to.equal('user_ids[1]');
    });
  });

  describe('UpdateUser', () => {
    it('changes only the set fields, moves updated_at, and the next read sees it (cache invalidated)', async () => {
      const { user } = await register({ nickname: 'before', avatarUrl: 'https://old' });
      await svc.client.getUser({ userId: user!.userId }); // fill the cache
      await new Promise((r) => setTimeout(r, 5));
      const { user: updated } = await svc.client.updateUser({
        userId: user!.userId,
        nickname: 'after',
      });
      expect(updated).to.include({ nickname: 'after', avatarUrl: 'https://old' });
      expect(updated!.updatedAt!.getTime()).to.be.greaterThan(user!.updatedAt!.getTime());
      expect((await svc.client.getUser({ userId: user!.userId })).user).to.deep.equal(updated);
      const { user: cleared } = await svc.client.updateUser({
        userId: user!.userId,
        avatarUrl: '',
      });
      expect(cleared).to.include({ nickname: 'after', avatarUrl: '' });
    });

    it('with nothing set returns the user unchanged', async () => {
      const { user } = await register();
      const { user: same } = await svc.client.updateUser({ userId: user!.userId });
      expect(same).to.deep.equal(user);
    });

    it('is visible at once on a second instance sharing MySQL and Redis', async () => {
      const other = await startUserService(env);
      try {
        const { user } = await register();
        await other.client.getUser({ userId: user!.userId }); // cached via the other instance
        await svc.client.updateUser({ userId: user!.userId, nickname: 'renamed' });
        expect((await other.client.getUser({ userId: user!.userId })).user!.nickname).to.equal(
          'renamed',
        );
        expect(
          (await other.client.batchGetUsers({ userIds: [user!.userId] })).users[0]!.nickname,
        ).to.equal('renamed');
      } finally {
        await other.stop();
      }
    });

    it('rejects bad input and unknown users', async () => {
      const { user } = await register();
      const e1 = await expectGrpcError(
        svc.client.updateUser({ userId: user!.userId, nickname: '' }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e1.metadata.field).to.equal('nickname');
      await expectGrpcError(
        svc.client.updateUser({ userId: user!.userId, nickname: 'n'.repeat(65) }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      await expectGrpcError(
        svc.client.updateUser({ userId: user!.userId, avatarUrl: 'a'.repeat(1025) }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      await expectGrpcError(
        svc.client.updateUser({ userId: 'no-such-user', nickname: 'x' }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      await expectGrpcError(
        svc.client.updateUser({ userId: 'no-such-user' }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
    });
  });

  describe('ChangePassword', () => {
    it('changes the password: the old one stops working, the new one works', async () => {
      const { user } = await register();
      await svc.client.changePassword({
        userId: user!.userId,
        oldPassword: PASSWORD,
        newPassword: 'brand-new-pass',
      });
      await expectGrpcError(
        svc.client.login({ username: user!.username, password: PASSWORD }),
        GrpcStatus.UNAUTHENTICATED,
      );
      await svc.client.login({ username: user!.username, password: 'brand-new-pass' });
    });

    it('is UNAUTHENTICATED for a wrong old password, NOT_FOUND for an unknown user, INVALID_ARGUMENT for a short new one', async () => {
      const { user } = await register();
      await expectGrpcError(
        svc.client.changePassword({
          userId: user!.userId,
          oldPassword: 'not-the-password',
          newPassword: 'whatever-new',
        }),
        GrpcStatus.UNAUTHENTICATED,
      );
      await expectGrpcError(
        svc.client.changePassword({
          userId: 'nobody-x',
          oldPassword: PASSWORD,
          newPassword: 'whatever-new',
        }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      const e = await expectGrpcError(
        svc.client.changePassword({
          userId: user!.userId,
          oldPassword: PASSWORD,
          newPassword: 'short',
        }),
        GrpcStatus.INVALID_ARGUMENT,
      );
      expect(e.metadata.field).to.equal('new_password');
      await expectGrpcError(
        svc.client.changePassword({
          userId: user!.userId,
          oldPassword: '',
          newPassword: 'whatever-new',
        }),
        GrpcStatus.INVALID_ARGUMENT,
      );
    });
  });

  describe('with Redis down', () => {
    it('still registers, logs in and reads users from MySQL', async () => {
      const { user } = await register({ nickname: 'via-mysql' });
      const noRedis = await startUserService(env, { redis: { port: 1, command_timeout_ms: 200 } });
      try {
        expect((await noRedis.client.getUser({ userId: user!.userId })).user!.nickname).to.equal(
          'via-mysql',
        );
        expect(
          (await noRedis.client.batchGetUsers({ userIds: [user!.userId] })).users,
        ).to.have.length(1);
        await noRedis.client.login({ username: user!.username, password: PASSWORD });
        const { user: created } = await noRedis.client.register({
          userId: '',
          username: uniqueName(),
          password: PASSWORD,
          nickname: '',
          avatarUrl: '',
        });
        await noRedis.client.updateUser({ userId: created!.userId, nickname: 'changed' });
        expect((await svc.client.getUser({ userId: created!.userId })).user!.nickname).to.equal(
          'changed',
        );
        const metrics = await noRedis.ctx.metrics.registry.metrics();
        expect(metrics).to.match(/cache_requests_total\{cache="user",result="error"\} [1-9]/);
      } finally {
        await noRedis.stop();
      }
    });
  });

  describe('overload', () => {
    it('hashes at most PASSWORD_HASH_CONCURRENCY passwords at once; past the queue a login is RESOURCE_EXHAUSTED OVERLOADED at once', async () => {
      // A slow hash (N = 2^16), one at a time, one waiting: a spray of 30 logins overflows it.
      const tight = await startUserService(env, {
        user: { scrypt_cost: 1 << 16, hash_concurrency: 1, hash_queue_max: 1 },
      });
      try {
        const outcomes = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            tight.client
              .login({ username: uniqueName(`spray${i}`), password: 'wrong-password' })
              .then(
                () => 'OK',
                (err: unknown) => decodeGrpcError(err).reason,
              ),
          ),
        );
        const overloaded = outcomes.filter((r) => r === 'OVERLOADED').length;
        expect(overloaded, outcomes.join()).to.be.greaterThan(0);
        expect(
          outcomes.filter((r) => r !== 'OVERLOADED' && r !== 'INVALID_CREDENTIALS'),
        ).to.deep.equal([]);
        // Nothing stays stuck: a login with room works.
        const { user } = await register();
        await tight.client.login({ username: user!.username, password: PASSWORD });
      } finally {
        await tight.stop();
      }
    });
  });

  describe('degraded mode (Redis down)', () => {
    let noRedis: Awaited<ReturnType<typeof startUserService>>;
    before(async () => {
      noRedis = await startUserService(env, {
        redis: { port: 1, command_timeout_ms: 200 },
        user: { login_max_failures: 3, login_window_seconds: 900 },
      });
    });
    after(async () => {
      await noRedis?.stop();
    });

    it('stays SERVING and exports dependency_up: mysql 1, redis 0', async () => {
      expect(await healthCheck(noRedis.address)).to.equal('SERVING');
      expect(await healthCheck(noRedis.address, 'im.user.v1.UserService')).to.equal('SERVING');
      const metrics = await noRedis.ctx.metrics.registry.metrics();
      expect(metrics).to.include('dependency_up{dependency="mysql"} 1');
      expect(metrics).to.include('dependency_up{dependency="redis"} 0');
      expect(metrics).not.to.include('dependency="nats"');
    });

    it('holds the login failure limit in memory, even for the right password (never fails open)', async () => {
      const { user } = await register();
      for (let i = 0; i < 3; i++) {
        await expectGrpcError(
          noRedis.client.login({ username: user!.username, password: 'wrong-password' }),
          GrpcStatus.UNAUTHENTICATED,
          'INVALID_CREDENTIALS',
        );
      }
      await expectGrpcError(
        noRedis.client.login({ username: user!.username.toUpperCase(), password: PASSWORD }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'TOO_MANY_ATTEMPTS',
      );
      // Another username is not affected; a success resets that one's count.
      const { user: other } = await register();
      await expectGrpcError(
        noRedis.client.login({ username: other!.username, password: 'wrong-password' }),
        GrpcStatus.UNAUTHENTICATED,
        'INVALID_CREDENTIALS',
      );
      await noRedis.client.login({ username: other!.username, password: PASSWORD });
    });
  });

  describe('secrets', () => {
    it('never puts a password or hash in a response or a log line', async () => {
      const secret = `S3cret-${uniqueName()}`;
      const { user } = await register({ password: secret });
      const responses = [
        user,
        (await svc.client.login({ username: user!.username, password: secret })).user,
        (await svc.client.getUser({ userId: user!.userId })).user,
        (await svc.client.batchGetUsers({ userIds: [user!.userId] })).users,
        (await svc.client.updateUser({ userId: user!.userId, nickname: 'z' })).user,
      ];
      await expectGrpcError(
        svc.client.login({ username: user!.username, password: `${secret}x` }),
        GrpcStatus.UNAUTHENTICATED,
      );
      await svc.client.changePassword({
        userId: user!.userId,
        oldPassword: secret,
        newPassword: `${secret}-2`,
      });
      const text = JSON.stringify(responses) + logLines.join('\n');
      expect(logLines.length).to.be.greaterThan(5);
      expect(text).not.to.include(secret);
      expect(text).not.to.include('scrypt$');
      expect(text).not.to.match(/password_?hash/i);
      for (const r of responses.flat()) expect(Object.keys(r!)).to.not.include('passwordHash');
    });
  });
});
