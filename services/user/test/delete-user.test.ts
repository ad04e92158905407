import { select } from '@im-repo/db';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { expect } from 'chai';
import { useUserSuite, startUserService, uniqueName } from './harness';

const PASSWORD = 'correct-horse';
// No peer listens here: every follow-up stays queued (the e2e tests deliver them for real).
const NOWHERE = '127.0.0.1:1';

describe('UserService.DeleteUser (the user service alone; peers unreachable)', () => {
  let svc: Awaited<ReturnType<typeof startUserService>>;

  const suite = useUserSuite('user-delete');
  before(async () => {
    ({ svc } = await suite.start({
      user: { delete_erases_content: true },
      peers: {
        message: NOWHERE,
        presence: NOWHERE,
        group: NOWHERE,
        conversation: NOWHERE,
        timeout_ms: 500,
      },
    }));
  });

  const register = async () =>
    (
      await svc.client.register({
        userId: '',
        username: uniqueName('del'),
        password: PASSWORD,
        nickname: 'n',
        avatarUrl: 'https://example.com/a.png',
      })
    ).user!;

  it('returns with the account gone even though no peer answers, and queues one follow-up per peer', async () => {
    const user = await register();
    await svc.client.deleteUser({ userId: user.userId });

    await expectGrpcError(
      svc.client.getUser({ userId: user.userId }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    await expectGrpcError(
      svc.client.changePassword({
        userId: user.userId,
        oldPassword: PASSWORD,
        newPassword: 'another-pass',
      }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
    await expectGrpcError(
      svc.client.login({ username: user.username, password: PASSWORD }),
      GrpcStatus.UNAUTHENTICATED,
      'INVALID_CREDENTIALS',
    );
    // The follow-ups wait in the outbox (one topic per peer, erasure included), none delivered.
    const rows = await select<{ topic: string }>(
      svc.deps.sequelize,
      'SELECT topic FROM user_outbox WHERE ordering_key = ? ORDER BY topic',
      [Buffer.from(user.userId)],
    );
    expect(rows.map((r) => r.topic)).to.deep.equal([
      'user-deleted.conversation',
      'user-deleted.group',
      'user-deleted.message',
      'user-deleted.message-erase',
      'user-deleted.presence',
    ]);
    // The tombstone keeps nothing of the person but the id.
    const [tombstone] = await select<Record<string, unknown>>(
      svc.deps.sequelize,
      'SELECT username, password_hash, nickname, avatar_url, deleted_at FROM users WHERE user_id = ?',
      [user.userId],
    );
    expect(tombstone).to.deep.include({
      username: null,
      password_hash: '',
      nickname: '',
      avatar_url: '',
    });
    expect(tombstone!.deleted_at).to.be.instanceOf(Date);
  });

  it('frees the username at once (any case) and never the id', async () => {
    const user = await register();
    await svc.client.deleteUser({ userId: user.userId });
    const { user: next } = await svc.client.register({
      userId: '',
      username: user.username.toUpperCase(),
      password: PASSWORD,
      nickname: '',
      avatarUrl: '',
    });
    expect(next!.userId).to.not.equal(user.userId);
    await expectGrpcError(
      svc.client.register({
        userId: user.userId,
        username: uniqueName('del'),
        password: PASSWORD,
        nickname: '',
        avatarUrl: '',
      }),
      GrpcStatus.ALREADY_EXISTS,
      'USER_ID_TAKEN',
    );
    await expectGrpcError(
      svc.client.deleteUser({ userId: user.userId }),
      GrpcStatus.NOT_FOUND,
      'USER_NOT_FOUND',
    );
  });
});
