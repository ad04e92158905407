import { expect } from 'chai';
import { createSequelize, openDatabase, withTransaction, type Sequelize } from '@im-repo/db';
import { ConversationType } from '@im-repo/proto/message';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@im-repo/testing';
import { migrations } from '../src/migrations';
import { ParticipantOutboxRepository } from '../src/participant-outbox.repository';
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

  const pending = (s: GroupService) => s.deps.outboxRepository.countPending();

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
    expect(await pending(svc)).to.equal(0);

    await svc.client.addMembers({ operatorId: owner!, groupId, userIds: [d!, a!] });
    expect(peers.participantsOf(groupId).has(d!)).to.equal(true);
    // Everyone named is (re)sent: the call is idempotent and repairs a missed join.
    const last = peers.conversation.calls[peers.conversation.calls.length - 1]!;
    expect(last.userIds.sort()).to.deep.equal([d!, a!].sort());
    expect(await pending(svc)).to.equal(0);
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
    expect(await pending(svc)).to.equal(3);
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

  describe('claiming across replicas', () => {
    let own: TestEnvironment;
    let dbs: Sequelize[] = [];

    before(async () => {
      own = await createTestEnvironment('groupclaim');
      const config = own.config('group');
      // Migrated, but no service (and so no drainer) runs on this database.
      dbs = [await openDatabase(config.db, 'group', { migrations }), createSequelize(config.db)];
    });

    after(async () => {
      await Promise.all(dbs.map((db) => db.close()));
      await own?.teardown();
    });

    it('two concurrent claims take disjoint rows and lease them out of reach', async () => {
      const [repoA, repoB] = dbs.map((db) => new ParticipantOutboxRepository(db));
      const past = new Date(Date.now() - 1000);
      await withTransaction(dbs[0]!, async (t) => {
        const ids = Array.from({ length: 50 }, (_, i) => `u${i}`);
        await repoA!.enqueue('g1', ids, past, past, t);
      });
      const lease = () => new Date(Date.now() + 60_000);
      const [x, y] = await Promise.all([
        repoA!.claimDue(new Date(), 30, lease),
        repoB!.claimDue(new Date(), 30, lease),
      ]);
      const ids = [...x, ...y].map((e) => e.id);
      expect(new Set(ids).size).to.equal(ids.length);
      expect(ids).to.have.length(50);
      expect([...x, ...y].every((e) => e.attempts === 1)).to.equal(true);
      // Leased: nothing is due any more.
      expect(await repoA!.claimDue(new Date(), 100, lease)).to.deep.equal([]);
      await repoA!.deleteByIds(ids);
      expect(await repoA!.countPending()).to.equal(0);
    });

    it('a claim skips rows another replica holds locked instead of waiting for them', async () => {
      const [repoA, repoB] = dbs.map((db) => new ParticipantOutboxRepository(db));
      const past = new Date(Date.now() - 1000);
      await withTransaction(dbs[0]!, async (t) => {
        await repoA!.enqueue('g2', ['a', 'b', 'c', 'd'], past, past, t);
      });
      const lease = () => new Date(Date.now() + 60_000);
      // Replica A is mid-claim: its transaction holds two rows' locks.
      const held = await dbs[0]!.transaction();
      try {
        const [ids] = (await dbs[0]!.query(
          "SELECT id FROM group_participant_outbox WHERE group_id = 'g2' AND user_id IN ('a', 'b')",
        )) as [{ id: number }[], unknown];
        // By primary key (all columns, so no covering index is scanned): exactly these two rows.
        const [rows] = (await dbs[0]!.query(
          'SELECT * FROM group_participant_outbox WHERE id IN (?) FOR UPDATE',
          { transaction: held, replacements: [ids.map((r) => r.id)] },
        )) as [{ id: number }[], unknown];
        expect(rows).to.have.length(2);
        // Without SKIP LOCKED this would block for the lock wait timeout (50 s > the test's).
        const claimed = await repoB!.claimDue(new Date(), 10, lease);
        expect(claimed.map((e) => e.userId).sort()).to.deep.equal(['c', 'd']);
      } finally {
        await held.rollback();
      }
      const rest = await repoA!.claimDue(new Date(), 10, lease);
      expect(rest.map((e) => e.userId).sort()).to.deep.equal(['a', 'b']);
    });
  });
});
