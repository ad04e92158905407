import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import type { PullMessagesRequest } from '@im-repo/proto/message';
import { decodeGrpcError, expectGrpcError, GrpcStatus, waitFor } from '@im-repo/testing';
import {
  useMessageSuite,
  groupSend,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

describe('ClearHistory: one user’s floor', () => {
  let peers: Peers;
  let svc: MessageInstance;
  const [x, y] = [uniqueId('chx'), uniqueId('chy')].sort() as [string, string];
  const stranger = uniqueId('chs');
  const [owner, member, gone] = [uniqueId('cho'), uniqueId('chm'), uniqueId('chg')];
  const gid = uniqueId('chgr');
  const deadGid = uniqueId('chdg');
  const single = `si_${x}_${y}`;
  const group = `sg_${gid}`;

  const suite = useMessageSuite('message-clear');
  before(async () => {
    ({ peers } = await suite.open());
    for (const u of [x, y, stranger]) peers.data.users.add(u);
    peers.data.groups.set(gid, {
      members: new Map([
        [owner, { role: GroupRole.GROUP_ROLE_OWNER }],
        [member, { role: GroupRole.GROUP_ROLE_MEMBER }],
      ]),
    });
    peers.data.groups.set(deadGid, {
      members: new Map([[owner, { role: GroupRole.GROUP_ROLE_OWNER }]]),
    });
    svc = await suite.service();
  });

  const pull = (req: Partial<PullMessagesRequest>) =>
    svc.client.pullMessages({
      userId: x,
      conversationId: single,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
      ...req,
    });
  const seqs = (r: { messages: { seq: number }[] }) => r.messages.map((m) => m.seq);
  const clear = (userId: string, conversationId: string) =>
    svc.client.clearHistory({ userId, conversationId });
  const clearedFor = (userId: string) =>
    peers.data.clearedCalls.flat().filter((r) => r.userId === userId);

  it('validates like PullMessages', async () => {
    await expectGrpcError(clear('', single), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectGrpcError(clear('a_b', single), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectGrpcError(clear(x, ''), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectGrpcError(clear(x, `si_${y}_${x}`), GrpcStatus.INVALID_ARGUMENT);
    await expectGrpcError(clear(x, 'xx_1'), GrpcStatus.INVALID_ARGUMENT);
  });

  it('refuses whom PullMessages refuses, with the same code and reason', async () => {
    const failure = (call: Promise<unknown>) =>
      call.then(
        () => expect.fail('the call succeeded'),
        (err: unknown) => {
          const { code, reason } = decodeGrpcError(err);
          return { code, reason };
        },
      );
    const cases = [
      [stranger, single, GrpcStatus.PERMISSION_DENIED, 'NOT_CONVERSATION_PARTICIPANT'],
      [stranger, group, GrpcStatus.PERMISSION_DENIED, 'NOT_GROUP_MEMBER'],
      [x, `sg_${uniqueId('nog')}`, GrpcStatus.NOT_FOUND, 'GROUP_NOT_FOUND'],
    ] as const;
    for (const [userId, conversationId, code, reason] of cases) {
      const pulled = await failure(pull({ userId, conversationId }));
      expect(pulled).to.deep.equal({ code, reason });
      expect(await failure(clear(userId, conversationId))).to.deep.equal(pulled);
    }
  });

  it('an empty conversation clears to 0 and records nothing', async () => {
    const [p, q] = [uniqueId('che'), uniqueId('chf')].sort() as [string, string];
    expect(await clear(p, `si_${p}_${q}`)).to.deep.equal({ clearedSeq: 0 });
    expect(clearedFor(p)).to.deep.equal([]);
  });

  it('hides seqs up to max_seq from that user only; min_seq moves; newer messages show', async () => {
    for (let i = 0; i < 5; i++)
      await svc.client.sendMessage(textSend(i % 2 ? x : y, i % 2 ? y : x));
    expect(await clear(x, single)).to.deep.equal({ clearedSeq: 5 });

    const mine = await pull({});
    expect(mine).to.deep.include({ maxSeq: 5, minSeq: 6, messages: [] });
    // A range wholly at or below the floor: no messages, not an error.
    expect(await pull({ beginSeq: 1, endSeq: 5 })).to.deep.include({ messages: [], minSeq: 6 });
    expect(await pull({ descending: true })).to.deep.include({ messages: [] });
    // The other participant sees everything.
    const theirs = await pull({ userId: y });
    expect(seqs(theirs)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(theirs.minSeq).to.equal(1);

    await svc.client.sendMessage(textSend(y, x));
    await svc.client.sendMessage(textSend(x, y));
    expect(seqs(await pull({}))).to.deep.equal([6, 7]);
    expect(seqs(await pull({ beginSeq: 3, endSeq: 6 }))).to.deep.equal([6]);
    expect(seqs(await pull({ descending: true, limit: 1 }))).to.deep.equal([7]);
    expect((await pull({})).minSeq).to.equal(6);
    expect(seqs(await pull({ userId: y }))).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
  });

  it('the floor moves forward only; a repeat returns the new max_seq and records only moves', async () => {
    const before = clearedFor(x).length;
    expect(await clear(x, single)).to.deep.equal({ clearedSeq: 7 });
    expect(await clear(x, single)).to.deep.equal({ clearedSeq: 7 });
    expect((await pull({})).minSeq).to.equal(8);
    // Recorded for the conversation service before the reply, once per move.
    expect(clearedFor(x).slice(before)).to.deep.equal([
      { userId: x, conversationId: single, clearedSeq: 7 },
    ]);
    expect(clearedFor(x)[0]).to.deep.equal({ userId: x, conversationId: single, clearedSeq: 5 });
  });

  it('concurrent clears of one user: one floor, recorded once', async () => {
    await svc.client.sendMessage(textSend(y, x));
    const before = clearedFor(x).length;
    const answers = await Promise.all(Array.from({ length: 10 }, () => clear(x, single)));
    expect(answers.map((a) => a.clearedSeq)).to.deep.equal(Array(10).fill(8));
    expect(clearedFor(x).slice(before)).to.deep.equal([
      { userId: x, conversationId: single, clearedSeq: 8 },
    ]);
  });

  it('group members clear their own view; works on a dismissed group; former members are refused', async () => {
    for (let i = 0; i < 3; i++) await svc.client.sendMessage(groupSend(owner, gid));
    expect(await clear(member, group)).to.deep.equal({ clearedSeq: 3 });
    expect(await pull({ userId: member, conversationId: group })).to.deep.include({
      messages: [],
      minSeq: 4,
      maxSeq: 3,
    });
    expect(seqs(await pull({ userId: owner, conversationId: group }))).to.deep.equal([1, 2, 3]);

    await svc.client.sendMessage(groupSend(owner, deadGid));
    peers.data.groups.get(deadGid)!.dismissed = true;
    expect(await clear(owner, `sg_${deadGid}`)).to.deep.equal({ clearedSeq: 1 });

    peers.data.groups.get(gid)!.members.set(gone, { role: GroupRole.GROUP_ROLE_MEMBER });
    peers.data.groups.get(gid)!.members.delete(gone);
    await expectGrpcError(clear(gone, group), GrpcStatus.PERMISSION_DENIED, 'NOT_GROUP_MEMBER');
  });

  it('while the conversation service is down: the floor holds at once; the record follows once it is back', async () => {
    await svc.client.sendMessage(textSend(x, y));
    peers.data.conversationDown = true;
    try {
      expect(await clear(y, single)).to.deep.equal({ clearedSeq: 9 });
      expect(await pull({ userId: y })).to.deep.include({ messages: [], minSeq: 10 });
      expect(clearedFor(y)).to.deep.equal([]);
    } finally {
      peers.data.conversationDown = false;
    }
    await waitFor(() => clearedFor(y).length > 0, { what: 'the record to be delivered' });
    expect(clearedFor(y)).to.deep.equal([{ userId: y, conversationId: single, clearedSeq: 9 }]);
  });
});
