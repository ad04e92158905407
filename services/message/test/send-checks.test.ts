import { AppError, Code } from '@im-repo/errors';
import type { PeerClient } from '@im-repo/server-kit';
import { expect } from 'chai';
import { SendChecks } from '../src/message.peers';

type Request = { groupId: string; userIds: string[] };

/** A group client answering CheckSendPermissions from a member list, recording its calls. */
function fakeGroup(members: Set<string>, fail?: AppError) {
  const calls: Request[] = [];
  const client = {
    async checkSendPermissions(req: Request) {
      calls.push({ groupId: req.groupId, userIds: [...req.userIds] });
      if (fail) throw fail;
      return {
        results: req.userIds.map((userId) =>
          members.has(userId)
            ? { userId, role: 1 }
            : {
                userId,
                role: 0,
                refusal: {
                  code: Code.PERMISSION_DENIED,
                  reason: 'NOT_GROUP_MEMBER',
                  message: `${userId} is not a member`,
                  metadata: { user_id: userId },
                },
              },
        ),
      };
    },
  };
  return { calls, checks: new SendChecks(client as unknown as PeerClient<'group'>) };
}

const outcome = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (e: AppError) => `${e.code} ${e.reason} ${e.message} ${JSON.stringify(e.metadata)}`,
  );

describe('SendChecks (group sends’ permission checks, coalesced)', () => {
  it('checks of one turn go as one call per group, each answered with its own result', async () => {
    const { calls, checks } = fakeGroup(new Set(['a', 'b']));
    const results = await Promise.all(
      [
        checks.check('g1', 'a'),
        checks.check('g1', 'x'),
        checks.check('g2', 'b'),
        checks.check('g1', 'b'),
        checks.check('g1', 'a'),
      ].map(outcome),
    );
    expect(calls).to.deep.equal([
      { groupId: 'g1', userIds: ['a', 'x', 'b', 'a'] },
      { groupId: 'g2', userIds: ['b'] },
    ]);
    expect(results).to.deep.equal([
      'ok',
      `${Code.PERMISSION_DENIED} NOT_GROUP_MEMBER x is not a member {"user_id":"x"}`,
      'ok',
      'ok',
      'ok',
    ]);
  });

  it('a check made after a call went out is not answered by it: it goes in the next call', async () => {
    const members = new Set(['a']);
    const { calls, checks } = fakeGroup(members);
    await checks.check('g', 'a');
    members.delete('a');
    expect(await outcome(checks.check('g', 'a'))).to.match(/NOT_GROUP_MEMBER/);
    expect(calls).to.have.length(2);
  });

  it('at most 256 users per call', async () => {
    const { calls, checks } = fakeGroup(new Set());
    await Promise.all(Array.from({ length: 300 }, (_, i) => outcome(checks.check('g', `u${i}`))));
    expect(calls.map((c) => c.userIds.length)).to.deep.equal([256, 44]);
  });

  it('a group service without CheckSendPermissions (older, mid-deploy): one CheckSendPermission per check', async () => {
    const unimplemented = new AppError(Code.UNIMPLEMENTED, 'UNIMPLEMENTED', 'unknown method');
    const { checks } = fakeGroup(new Set(), unimplemented);
    const singles: string[] = [];
    const client = (checks as unknown as { client: Record<string, unknown> }).client;
    client.checkSendPermission = async (req: { userId: string }) => {
      singles.push(req.userId);
      if (req.userId !== 'a') throw new AppError(Code.PERMISSION_DENIED, 'NOT_GROUP_MEMBER', 'no');
      return { role: 1 };
    };
    const results = await Promise.all(
      [checks.check('g', 'a'), checks.check('g', 'b')].map(outcome),
    );
    expect(singles).to.deep.equal(['a', 'b']);
    expect(results).to.deep.equal(['ok', `${Code.PERMISSION_DENIED} NOT_GROUP_MEMBER no {}`]);
  });

  it('a failed call fails each of its checks with its error', async () => {
    const down = new AppError(
      Code.UNAVAILABLE,
      'PEER_UNAVAILABLE',
      'the group service is unavailable',
    );
    const { checks } = fakeGroup(new Set(['a']), down);
    const results = await Promise.all(
      [checks.check('g', 'a'), checks.check('g', 'b')].map(outcome),
    );
    expect(results).to.deep.equal([
      `${Code.UNAVAILABLE} PEER_UNAVAILABLE the group service is unavailable {}`,
      `${Code.UNAVAILABLE} PEER_UNAVAILABLE the group service is unavailable {}`,
    ]);
  });
});
