import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import { expectGrpcError, GrpcStatus, type TestEnvironment } from '@im-repo/testing';
import { castGroup } from './fixtures';
import {
  useGroupSuite,
  countsOf,
  makeUsers,
  startGroupService,
  type GroupService,
  type Peers,
} from './harness';

describe('GroupService: membership, the cap and member_count', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: GroupService;
  /** A second replica on the same MySQL and Redis. */
  let replica: GroupService;
  /** max_members = 10 */
  let small: GroupService;
  const MAX = 10;

  const suite = useGroupSuite('group');
  before(async () => {
    ({ env, peers, svc } = await suite.start());
    replica = await suite.service();
    small = await suite.service({ group: { max_members: MAX } });
  });

  const listAll = async (s: GroupService, groupId: string) =>
    (await s.client.listMembers({ groupId, pageSize: 1000, pageToken: '' })).members;

  describe('AddMembers', () => {
    it('adds new users as MEMBER and returns only them; repeating it adds nothing', async () => {
      const c = await castGroup(svc, peers);
      const [a, b] = makeUsers(peers, 2);
      const { added } = await svc.client.addMembers({
        operatorId: c.admin,
        groupId: c.groupId,
        userIds: [a!, c.member, b!, a!],
      });
      expect(added.map((m) => m.userId).sort()).to.deep.equal([a!, b!].sort());
      for (const m of added) {
        expect(m).to.include({ groupId: c.groupId, role: GroupRole.GROUP_ROLE_MEMBER });
        expect(m.joinedAt).to.be.instanceOf(Date);
        expect(m.mutedUntil).to.equal(undefined);
      }
      const again = await svc.client.addMembers({
        operatorId: c.owner,
        groupId: c.groupId,
        userIds: [a!, b!, c.owner],
      });
      expect(again.added).to.deep.equal([]);
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 7, rows: 7 });
      // An existing member keeps their role (the owner was not demoted by being re-added).
      const { member } = await svc.client.getMember({ groupId: c.groupId, userId: c.owner });
      expect(member!.role).to.equal(GroupRole.GROUP_ROLE_OWNER);
    });

    it('rejects unknown users with USER_NOT_FOUND naming them and adds nobody', async () => {
      const c = await castGroup(svc, peers);
      const [a] = makeUsers(peers, 1);
      const err = await expectGrpcError(
        svc.client.addMembers({
          operatorId: c.owner,
          groupId: c.groupId,
          userIds: [a!, 'ghost-a', c.member, 'ghost-b'],
        }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(err.metadata.user_ids).to.equal('ghost-a,ghost-b');
      expect(err.metadata.unknown_count).to.equal('2');
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 5, rows: 5 });
    });

    it('names at most 50 unknown users in the error, and counts them all', async () => {
      const c = await castGroup(svc, peers);
      const ghosts = Array.from({ length: 120 }, (_, i) => `ghost-${i}`);
      const err = await expectGrpcError(
        svc.client.addMembers({ operatorId: c.owner, groupId: c.groupId, userIds: ghosts }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(err.metadata.user_ids!.split(',')).to.deep.equal(ghosts.slice(0, 50));
      expect(err.metadata.unknown_count).to.equal('120');
      expect(err.message).to.include('and 70 more');
    });

    it('asks the user service only about users not yet in the group', async () => {
      const c = await castGroup(svc, peers);
      const [a] = makeUsers(peers, 1);
      const before = peers.batchCalls.length;
      await svc.client.addMembers({
        operatorId: c.owner,
        groupId: c.groupId,
        userIds: [c.member, c.admin],
      });
      expect(peers.batchCalls.length).to.equal(before);
      await svc.client.addMembers({
        operatorId: c.owner,
        groupId: c.groupId,
        userIds: [c.member, a!],
      });
      expect(peers.batchCalls.slice(before)).to.deep.equal([[a!]]);
    });
  });

  describe('RemoveMembers', () => {
    it('removes members, skips non-members, keeps member_count exact', async () => {
      const c = await castGroup(svc, peers);
      await svc.client.removeMembers({
        operatorId: c.owner,
        groupId: c.groupId,
        userIds: [c.member, c.admin, c.outsider, 'never-existed', c.member],
      });
      const ids = (await listAll(svc, c.groupId)).map((m) => m.userId).sort();
      expect(ids).to.deep.equal([c.owner, c.admin2, c.member2].sort());
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 3, rows: 3 });
      await svc.client.removeMembers({
        operatorId: c.owner,
        groupId: c.groupId,
        userIds: [c.member],
      });
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 3, rows: 3 });
    });

    it('fails whole when one target may not be removed (admin removing a member and an admin)', async () => {
      const c = await castGroup(svc, peers);
      await expectGrpcError(
        svc.client.removeMembers({
          operatorId: c.admin,
          groupId: c.groupId,
          userIds: [c.member, c.admin2],
        }),
        GrpcStatus.PERMISSION_DENIED,
        'INSUFFICIENT_ROLE',
      );
      await expectGrpcError(
        svc.client.removeMembers({
          operatorId: c.admin,
          groupId: c.groupId,
          userIds: [c.member, c.owner],
        }),
        GrpcStatus.PERMISSION_DENIED,
        'INSUFFICIENT_ROLE',
      );
      expect(await countsOf(svc, c.groupId)).to.deep.equal({ memberCount: 5, rows: 5 });
    });
  });

  describe(`the member cap (max_members = ${MAX})`, () => {
    const createWith = (s: GroupService, total: number) => {
      const [owner, ...rest] = makeUsers(peers, total, 'cap');
      return s.client.createGroup({
        groupId: '',
        ownerId: owner!,
        name: 'cap',
        avatarUrl: '',
        intro: '',
        memberIds: rest,
      });
    };

    it('CreateGroup: max-1 and max members are fine, max+1 is RESOURCE_EXHAUSTED GROUP_FULL', async () => {
      expect((await createWith(small, MAX - 1)).group!.memberCount).to.equal(MAX - 1);
      expect((await createWith(small, MAX)).group!.memberCount).to.equal(MAX);
      const err = await expectGrpcError(
        createWith(small, MAX + 1),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'GROUP_FULL',
      );
      expect(err.metadata.max_members).to.equal(String(MAX));
    });

    it('CreateGroup counts the owner and duplicates once', async () => {
      const [owner, ...rest] = makeUsers(peers, MAX, 'cap');
      const { group } = await small.client.createGroup({
        groupId: '',
        ownerId: owner!,
        name: 'cap',
        avatarUrl: '',
        intro: '',
        memberIds: [...rest, owner!, ...rest],
      });
      expect(group!.memberCount).to.equal(MAX);
    });

    it('AddMembers: up to max is fine; one more is GROUP_FULL and rejected whole', async () => {
      const { group } = await createWith(small, MAX - 2);
      const groupId = group!.groupId;
      const owner = group!.ownerId;
      const [a, b, d] = makeUsers(peers, 3, 'cap');
      // max-2 + 3 = max+1: nothing of it is added.
      await expectGrpcError(
        small.client.addMembers({ operatorId: owner, groupId, userIds: [a!, b!, d!] }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'GROUP_FULL',
      );
      expect(await countsOf(small, groupId)).to.deep.equal({ memberCount: MAX - 2, rows: MAX - 2 });
      // max-2 + 1 = max-1, then + 1 = max.
      await small.client.addMembers({ operatorId: owner, groupId, userIds: [a!] });
      const { added } = await small.client.addMembers({
        operatorId: owner,
        groupId,
        userIds: [a!, b!],
      });
      expect(added.map((m) => m.userId)).to.deep.equal([b!]);
      expect(await countsOf(small, groupId)).to.deep.equal({ memberCount: MAX, rows: MAX });
      // Full: members already in the group do not count twice...
      const { added: none } = await small.client.addMembers({
        operatorId: owner,
        groupId,
        userIds: [a!, b!, owner],
      });
      expect(none).to.deep.equal([]);
      // ...but one new user does.
      await expectGrpcError(
        small.client.addMembers({ operatorId: owner, groupId, userIds: [a!, d!] }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'GROUP_FULL',
      );
      // Room again after someone leaves.
      await small.client.leaveGroup({ userId: a!, groupId });
      await small.client.addMembers({ operatorId: owner, groupId, userIds: [d!] });
      expect(await countsOf(small, groupId)).to.deep.equal({ memberCount: MAX, rows: MAX });
    });

    it('AddMembers naming more users than the cap is GROUP_FULL without asking the user service', async () => {
      const { group } = await createWith(small, 2);
      const before = peers.batchCalls.length;
      await expectGrpcError(
        small.client.addMembers({
          operatorId: group!.ownerId,
          groupId: group!.groupId,
          userIds: Array.from({ length: MAX + 1 }, (_, i) => `maybe-${i}`),
        }),
        GrpcStatus.RESOURCE_EXHAUSTED,
        'GROUP_FULL',
      );
      expect(peers.batchCalls.length).to.equal(before);
      expect(await countsOf(small, group!.groupId)).to.deep.equal({ memberCount: 2, rows: 2 });
    });

    it('concurrent AddMembers on two replicas racing for the last 3 seats: exactly 3 win', async () => {
      const other = await startGroupService(env, peers, { group: { max_members: MAX } });
      try {
        const { group } = await createWith(small, MAX - 3);
        const groupId = group!.groupId;
        const users = makeUsers(peers, 12, 'seat');
        const results = await Promise.allSettled(
          users.map((u, i) =>
            (i % 2 ? small : other).client.addMembers({
              operatorId: group!.ownerId,
              groupId,
              userIds: [u],
            }),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(3);
        for (const r of results.filter((x) => x.status === 'rejected')) {
          await expectGrpcError(
            Promise.reject((r as PromiseRejectedResult).reason),
            GrpcStatus.RESOURCE_EXHAUSTED,
            'GROUP_FULL',
          );
        }
        expect(await countsOf(small, groupId)).to.deep.equal({ memberCount: MAX, rows: MAX });
      } finally {
        await other.stop();
      }
    });
  });

  describe('member_count under concurrency', () => {
    it('stays equal to the member rows through concurrent adds, removes and leaves on two replicas', async () => {
      const [owner, admin] = makeUsers(peers, 2, 'conc');
      const pool = makeUsers(peers, 60, 'pool');
      const { group } = await svc.client.createGroup({
        groupId: '',
        ownerId: owner!,
        name: 'busy',
        avatarUrl: '',
        intro: '',
        memberIds: [admin!, ...pool.slice(0, 20)],
      });
      const groupId = group!.groupId;
      await svc.client.setMemberRole({
        operatorId: owner!,
        groupId,
        userId: admin!,
        role: GroupRole.GROUP_ROLE_ADMIN,
      });
      // Overlapping batches so adds, removes and leaves of the same users interleave.
      const pick = (i: number) => Array.from({ length: 8 }, (_, k) => pool[(i * 7 + k * 3) % 60]!);
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 48; i++) {
        const s = i % 2 ? replica : svc;
        const operatorId = i % 3 ? owner! : admin!;
        if (i % 4 === 3) {
          ops.push(s.client.leaveGroup({ userId: pool[i % 60]!, groupId }).catch(() => undefined));
        } else if (i % 2) {
          ops.push(s.client.removeMembers({ operatorId, groupId, userIds: pick(i) }));
        } else {
          ops.push(s.client.addMembers({ operatorId, groupId, userIds: pick(i) }));
        }
      }
      const results = await Promise.allSettled(ops);
      const failed = results.filter((r) => r.status === 'rejected');
      expect(
        failed.map((r) => String(((r as PromiseRejectedResult).reason as Error).message)),
      ).to.deep.equal([]);
      const counts = await countsOf(svc, groupId);
      expect(counts.memberCount).to.equal(counts.rows);
      const listed = await listAll(replica, groupId);
      expect(listed).to.have.length(counts.rows);
      expect((await replica.client.getGroup({ groupId })).group!.memberCount).to.equal(counts.rows);
    });
  });
});
