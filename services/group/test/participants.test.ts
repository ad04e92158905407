import { expect } from 'chai';
import { ConversationType } from '@im-repo/proto/message';
import { createTestEnvironment, expectGrpcError, GrpcStatus, waitFor } from '@im-repo/testing';
import { castGroup } from './fixtures';
import {
  useGroupSuite,
  makeUsers,
  startGroupService,
  type GroupService,
  type Peers,
} from './harness';

describe('GroupService: joins reach the conversation service (durable outbox)', () => {
  let peers: Peers;
  let svc: GroupService;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ peers, svc } = await suite.start());
  });

  afterEach(() => {
    peers.conversation.down = false;
    peers.message.down = false;
  });

  const pending = (s: GroupService) => s.deps.outbox.countPending();

  it('CreateGroup and AddMembers call AddParticipants before they return, and leave no outbox rows', async () => {
    const [owner, a, b, d] = makeUsers(peers, 4);
    const { group } = await svc.client.createGroup({
      groupId: '',
      ownerId: owner!,
      name: 'g',
      avatarUrl: '',
      intro: '',
      memberIds: [a!, b!],
    });
    const groupId = group!.groupId;
    // No waiting: the call was made before the response.
    expect([...peers.participantsOf(groupId)].sort()).to.deep.equal([owner!, a!, b!].sort());
    const call = peers.conversation.calls.find((c) => c.peerId === groupId)!;
    expect(call).to.deep.include({
      conversationId: `sg_${groupId}`,
      conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
      peerId: groupId,
    });
    // Delivered rows are deleted right after the call, off the caller's path.
    await waitFor(async () => (await pending(svc)) === 0, { what: 'the delivered rows deleted' });

    await svc.client.addMembers({ operatorId: owner!, groupId, userIds: [d!, a!] });
    expect(peers.participantsOf(groupId).has(d!)).to.equal(true);
    // Everyone named is (re)sent: the call is idempotent and repairs a missed join.
    const last = peers.conversation.calls[peers.conversation.calls.length - 1]!;
    expect(last.userIds.sort()).to.deep.equal([d!, a!].sort());
    await waitFor(async () => (await pending(svc)) === 0, { what: 'the delivered rows deleted' });
  });

  it('while the conversation service is down the rpcs still succeed; the joins arrive once it is back', async () => {
    peers.conversation.down = true;
    const [owner, a, b] = makeUsers(peers, 3);
    const { group } = await svc.client.createGroup({
      groupId: '',
      ownerId: owner!,
      name: 'g',
      avatarUrl: '',
      intro: '',
      memberIds: [a!],
    });
    const groupId = group!.groupId;
    const { added } = await svc.client.addMembers({ operatorId: owner!, groupId, userIds: [b!] });
    expect(added).to.have.length(1);
    expect(peers.participantsOf(groupId).size).to.equal(0);
    expect(await pending(svc)).to.equal(3);

    peers.conversation.down = false;
    await waitFor(() => peers.participantsOf(groupId).size === 3, {
      timeoutMs: 20_000,
      what: 'the queued joins to be delivered',
    });
    expect([...peers.participantsOf(groupId)].sort()).to.deep.equal([owner!, a!, b!].sort());
    await waitFor(async () => (await pending(svc)) === 0, {
      timeoutMs: 5000,
      what: 'the outbox to empty',
    });
  });

  it('a member removed before delivery is not announced, or announced and then frozen, in order', async () => {
    peers.conversation.down = true;
    const c = await castGroup(svc, peers, 'rm');
    await svc.client.removeMembers({
      operatorId: c.owner,
      groupId: c.groupId,
      userIds: [c.member],
    });
    await svc.client.leaveGroup({ userId: c.member2, groupId: c.groupId });
    // Their rows stay queued (5 joins, 2 leaves); delivery announces only who is a member by
    // then, and the leaves.
    expect(await pending(svc)).to.equal(7);
    peers.conversation.down = false;
    await waitFor(async () => (await pending(svc)) === 0, {
      timeoutMs: 20_000,
      what: 'the outbox to empty',
    });
    // Members at delivery are announced. A drainer attempt that read the members before a
    // leave and reached the stand-in just as it came back may announce the leaver too; then
    // the leave follows it (same key, in order), so their row ends frozen, never live.
    const cid = `sg_${c.groupId}`;
    const announced = peers.participantsOf(c.groupId);
    expect([...announced].filter((u) => [c.owner, c.admin, c.admin2].includes(u))).to.have.length(
      3,
    );
    for (const leaver of [c.member, c.member2]) {
      if (!announced.has(leaver)) continue;
      expect(peers.conversation.log.lastIndexOf(`remove ${cid} ${leaver}`)).to.be.greaterThan(
        peers.conversation.log.lastIndexOf(`add ${cid} ${leaver}`),
      );
    }
    const removals = peers.conversation.removals.filter((r) => r.conversationId === cid);
    expect(removals.map((r) => r.userIds)).to.deep.equal([[c.member], [c.member2]]);
  });

  it("RemoveMembers and LeaveGroup freeze the leavers' rows at the max_seq read as the call began, before they return", async () => {
    const c = await castGroup(svc, peers, 'frz');
    const cid = `sg_${c.groupId}`;
    peers.message.maxSeqs.set(cid, 7);
    await svc.client.removeMembers({
      operatorId: c.owner,
      groupId: c.groupId,
      userIds: [c.member],
    });
    peers.message.maxSeqs.set(cid, 9);
    await svc.client.leaveGroup({ userId: c.member2, groupId: c.groupId });
    const removals = peers.conversation.removals.filter((r) => r.conversationId === cid);
    expect(removals).to.deep.equal([
      { conversationId: cid, userIds: [c.member], frozenSeq: 7, frozenAt: new Date(7000) },
      { conversationId: cid, userIds: [c.member2], frozenSeq: 9, frozenAt: new Date(9000) },
    ]);
    // Removing a non-member removes nobody and tells nobody.
    await svc.client.removeMembers({
      operatorId: c.owner,
      groupId: c.groupId,
      userIds: [c.member],
    });
    expect(peers.conversation.removals.filter((r) => r.conversationId === cid)).to.have.length(2);
  });

  it('with the message service down, RemoveMembers and LeaveGroup are UNAVAILABLE and change nothing', async () => {
    const c = await castGroup(svc, peers, 'mdown');
    peers.message.down = true;
    await expectGrpcError(
      svc.client.removeMembers({ operatorId: c.owner, groupId: c.groupId, userIds: [c.member] }),
      GrpcStatus.UNAVAILABLE,
    );
    await expectGrpcError(
      svc.client.leaveGroup({ userId: c.member2, groupId: c.groupId }),
      GrpcStatus.UNAVAILABLE,
    );
    const { members } = await svc.client.listMembers({
      groupId: c.groupId,
      pageSize: 0,
      pageToken: '',
    });
    expect(members.map((m) => m.userId)).to.include.members([c.member, c.member2]);
    expect(
      peers.conversation.removals.filter((r) => r.conversationId === `sg_${c.groupId}`),
    ).to.deep.equal([]);
    // A bad call still gets its own answer first (the checks run before the peer is asked).
    await expectGrpcError(
      svc.client.leaveGroup({ userId: c.outsider, groupId: c.groupId }),
      GrpcStatus.NOT_FOUND,
      'NOT_GROUP_MEMBER',
    );
  });

  it('a leave and a re-join queued while the conversation service is down arrive in commit order', async () => {
    const c = await castGroup(svc, peers, 'order');
    const cid = `sg_${c.groupId}`;
    peers.message.maxSeqs.set(cid, 3);
    peers.conversation.down = true;
    await svc.client.leaveGroup({ userId: c.member, groupId: c.groupId });
    await svc.client.addMembers({ operatorId: c.owner, groupId: c.groupId, userIds: [c.member] });
    peers.conversation.down = false;
    await waitFor(async () => (await pending(svc)) === 0, {
      timeoutMs: 20_000,
      what: 'the outbox to empty',
    });
    const removal = peers.conversation.removals.find((r) => r.conversationId === cid)!;
    expect(removal).to.deep.include({ userIds: [c.member], frozenSeq: 3 });
    // The re-join's AddParticipants came after the leave's RemoveParticipants.
    const removedAt = peers.conversation.log.indexOf(`remove ${cid} ${c.member}`);
    const addedAt = peers.conversation.log.lastIndexOf(`add ${cid} ${c.member}`);
    expect(removedAt).to.be.greaterThan(-1);
    expect(addedAt).to.be.greaterThan(removedAt);
  });

  it('stops draining on close; a restarted service delivers what was queued', async () => {
    const own = await createTestEnvironment('groupclose');
    // A 1 s deadline keeps the inline lease short enough for the wait below to outlast it.
    const first = await startGroupService(own, peers, { peers: { timeout_ms: 1000 } });
    try {
      peers.conversation.down = true;
      const [owner, a] = makeUsers(peers, 2);
      const { group } = await first.client.createGroup({
        groupId: '',
        ownerId: owner!,
        name: 'g',
        avatarUrl: '',
        intro: '',
        memberIds: [a!],
      });
      const groupId = group!.groupId;
      await first.stop();
      peers.conversation.down = false;
      const callsAfterClose = peers.conversation.calls.length;
      // Past the inline lease and two drain intervals: a drainer still running would have sent.
      await new Promise((r) => setTimeout(r, 3000));
      expect(peers.conversation.calls.length).to.equal(callsAfterClose);
      expect(peers.participantsOf(groupId).size).to.equal(0);

      const second = await startGroupService(own, peers);
      try {
        await waitFor(() => peers.participantsOf(groupId).size === 2, {
          timeoutMs: 10_000,
          what: 'the restarted service to deliver',
        });
        await waitFor(async () => (await pending(second)) === 0, { what: 'the outbox to empty' });
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
      await own.teardown();
    }
  });
});
