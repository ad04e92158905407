import { expect } from 'chai';
import { ConversationType } from '@im-repo/proto/message';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@im-repo/testing';
import { castGroup } from './fixtures';
import { makeUsers, startGroupService, startPeers, type GroupService, type Peers } from './harness';

describe('GroupService: joins reach the conversation service (durable outbox)', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: GroupService;

  before(async () => {
    env = await createTestEnvironment('group');
    peers = await startPeers();
    svc = await startGroupService(env, peers);
  });

  afterEach(() => {
    peers.conversation.down = false;
  });

  after(async () => {
    await svc?.stop();
    await peers?.stop();
    await env?.teardown();
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

  it('a member removed before delivery is never delivered', async () => {
    peers.conversation.down = true;
    const c = await castGroup(svc, peers, 'rm');
    await svc.client.removeMembers({
      operatorId: c.owner,
      groupId: c.groupId,
      userIds: [c.member],
    });
    await svc.client.leaveGroup({ userId: c.member2, groupId: c.groupId });
    // Their rows stay queued; delivery announces only who is a member by then.
    expect(await pending(svc)).to.equal(5);
    peers.conversation.down = false;
    await waitFor(async () => (await pending(svc)) === 0, {
      timeoutMs: 20_000,
      what: 'the outbox to empty',
    });
    expect([...peers.participantsOf(c.groupId)].sort()).to.deep.equal(
      [c.owner, c.admin, c.admin2].sort(),
    );
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
