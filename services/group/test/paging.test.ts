import { expect } from 'chai';
import type { GroupMember } from '@im-repo/proto/group';
import { sqlTime } from '@im-repo/db';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { LIST_MEMBERS_SQL, LIST_USER_GROUPS_SQL } from '../src/group.repository';
import { PARTICIPANTS_PER_CALL } from '../src/participant-outbox';
import { castGroup } from './fixtures';
import { useGroupSuite, countsOf, makeUsers, type GroupService, type Peers } from './harness';

const BIG = 5000;

describe('GroupService: keyset paging', () => {
  let peers: Peers;
  let svc: GroupService;
  let bigGroup: string;
  let bigMembers: string[];

  const suite = useGroupSuite('group');
  before(async () => {
    ({ peers, svc } = await suite.start({ group: { max_members: 6000 } }));
    // 500 at creation (owner + 499) and nine batches of 500, the per-call cap: ten joined_at
    // values with 500 ties each, so pages of 333 end inside ties.
    bigMembers = makeUsers(peers, BIG, 'big');
    const { group } = await svc.client.createGroup({
      groupId: '',
      ownerId: bigMembers[0]!,
      name: 'big',
      avatarUrl: '',
      intro: '',
      memberIds: bigMembers.slice(1, 500),
    });
    bigGroup = group!.groupId;
    for (let i = 500; i < BIG; i += 500) {
      await new Promise((r) => setTimeout(r, 2)); // a distinct joined_at per batch
      await svc.client.addMembers({
        operatorId: bigMembers[0]!,
        groupId: bigGroup,
        userIds: bigMembers.slice(i, i + 500),
      });
    }
  });

  const walk = async (groupId: string, pageSize: number) => {
    const seen: GroupMember[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await svc.client.listMembers({ groupId, pageSize, pageToken });
      expect(page.members.length).to.be.at.most(pageSize);
      seen.push(...page.members);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== '');
    return { seen, pages };
  };

  const byJoinThenId = (a: GroupMember, b: GroupMember) =>
    a.joinedAt!.getTime() - b.joinedAt!.getTime() || (a.userId < b.userId ? -1 : 1);

  it(`walks a ${BIG}-member group: every member exactly once, in (joined_at, user_id) order`, async () => {
    expect(await countsOf(svc, bigGroup)).to.deep.equal({ memberCount: BIG, rows: BIG });
    const { seen, pages } = await walk(bigGroup, 333);
    expect(pages).to.equal(Math.ceil(BIG / 333));
    const ids = seen.map((m) => m.userId);
    expect(new Set(ids).size).to.equal(BIG);
    expect([...ids].sort()).to.deep.equal([...bigMembers].sort());
    expect(seen).to.deep.equal([...seen].sort(byJoinThenId));
    expect(new Set(seen.map((m) => m.joinedAt!.getTime())).size).to.equal(10);
  });

  it('an exact multiple of the page size ends with an empty next_page_token, not an empty page', async () => {
    const { seen, pages } = await walk(bigGroup, 1000);
    expect(seen).to.have.length(BIG);
    expect(pages).to.equal(5);
  });

  it('reads page-size rows wherever the page starts (keyset, not OFFSET): first and last page', async () => {
    const { seen } = await walk(bigGroup, 1000);
    const last = seen[BIG - 101]!;
    const positions = [
      { joinedAt: new Date('1000-01-01T00:00:00.000Z'), id: '' },
      { joinedAt: seen[2499]!.joinedAt!, id: seen[2499]!.userId },
      { joinedAt: last.joinedAt!, id: last.userId },
    ];
    for (const p of positions) {
      const [plan] = (await svc.deps.sequelize.query(`ANALYZE FORMAT=JSON ${LIST_MEMBERS_SQL}`, {
        replacements: [bigGroup, sqlTime(p.joinedAt), sqlTime(p.joinedAt), p.id, 101],
        type: 'SELECT',
      })) as Record<string, string>[];
      const table = JSON.parse(Object.values(plan!)[0]!).query_block.nested_loop[0].table;
      expect(table.key).to.equal('idx_group_members_group_joined');
      expect(table.access_type).to.equal('range');
      expect(table.r_rows).to.be.at.most(101);
    }
  });

  it('delivers all members to the conversation service in calls of at most 500 users', () => {
    const calls = peers.conversation.calls.filter((c) => c.peerId === bigGroup);
    expect(calls.every((c) => c.userIds.length <= PARTICIPANTS_PER_CALL)).to.equal(true);
    expect(calls.length).to.equal(10);
    expect(peers.participantsOf(bigGroup).size).to.equal(BIG);
  });

  it('a member added while paging appears on a later page (they sort after the cursor)', async () => {
    const c = await castGroup(svc, peers);
    const first = await svc.client.listMembers({ groupId: c.groupId, pageSize: 3, pageToken: '' });
    const [late] = makeUsers(peers, 1);
    await svc.client.addMembers({ operatorId: c.owner, groupId: c.groupId, userIds: [late!] });
    const rest = await svc.client.listMembers({
      groupId: c.groupId,
      pageSize: 100,
      pageToken: first.nextPageToken,
    });
    const ids = [...first.members, ...rest.members].map((m) => m.userId);
    expect(ids).to.have.length(6);
    expect(ids[5]).to.equal(late);
  });

  describe('ListUserGroups', () => {
    it('pages the active groups of a user in (joined_at, group_id) order; dismissed and left ones are omitted', async () => {
      const [user] = makeUsers(peers, 1, 'joiner');
      const created: string[] = [];
      for (let i = 0; i < 7; i++) {
        const [owner] = makeUsers(peers, 1);
        const { group } = await svc.client.createGroup({
          groupId: '',
          ownerId: owner!,
          name: `g${i}`,
          avatarUrl: '',
          intro: '',
          memberIds: i % 2 ? [user!] : [],
        });
        if (i % 2 === 0) {
          await new Promise((r) => setTimeout(r, 2));
          await svc.client.addMembers({
            operatorId: owner!,
            groupId: group!.groupId,
            userIds: [user!],
          });
        }
        created.push(group!.groupId);
      }
      const owners = Object.fromEntries(
        await Promise.all(
          created.map(async (g) => [g, (await svc.client.getGroup({ groupId: g })).group!.ownerId]),
        ),
      );
      await svc.client.dismissGroup({ operatorId: owners[created[1]!]!, groupId: created[1]! });
      await svc.client.leaveGroup({ userId: user!, groupId: created[4]! });
      const expected = created.filter((_, i) => i !== 1 && i !== 4);

      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await svc.client.listUserGroups({ userId: user!, pageSize: 2, pageToken });
        seen.push(...page.groups.map((g) => g.groupId));
        for (const g of page.groups) expect(g.memberCount).to.be.greaterThan(0);
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken);
      // Joined in creation order (each join later than the previous), so that is the order.
      expect(seen).to.deep.equal(expected);
      expect(pages).to.equal(3);
    });

    it('is empty for a user in no group, and its plan walks the member index in order', async () => {
      const { groups, nextPageToken } = await svc.client.listUserGroups({
        userId: 'nobody-at-all',
        pageSize: 0,
        pageToken: '',
      });
      expect(groups).to.deep.equal([]);
      expect(nextPageToken).to.equal('');
      const [plan] = (await svc.deps.sequelize.query(
        `EXPLAIN FORMAT=JSON ${LIST_USER_GROUPS_SQL}`,
        {
          replacements: [
            bigMembers[7],
            '1000-01-01 00:00:00.000',
            '1000-01-01 00:00:00.000',
            '',
            101,
          ],
          type: 'SELECT',
        },
      )) as Record<string, string>[];
      const text = Object.values(plan!)[0]!;
      expect(text).to.include('idx_group_members_user_joined');
      expect(text).not.to.include('filesort');
      const { groups: one } = await svc.client.listUserGroups({
        userId: bigMembers[7]!,
        pageSize: 0,
        pageToken: '',
      });
      expect(one.map((g) => g.groupId)).to.deep.equal([bigGroup]);
    });

    it('rejects a page token of another user', async () => {
      const [a] = makeUsers(peers, 1);
      const c = await castGroup(svc, peers);
      await svc.client.createGroup({
        groupId: '',
        ownerId: c.member,
        name: 'second',
        avatarUrl: '',
        intro: '',
        memberIds: [],
      });
      const { nextPageToken } = await svc.client.listUserGroups({
        userId: c.member,
        pageSize: 1,
        pageToken: '',
      });
      expect(nextPageToken).not.to.equal('');
      await expectGrpcError(
        svc.client.listUserGroups({ userId: a!, pageSize: 1, pageToken: nextPageToken }),
        GrpcStatus.INVALID_ARGUMENT,
      );
    });
  });

  it('ends a ListUserGroups page early rather than answer past 4 MiB; the token continues', async function () {
    this.timeout(120_000);
    const [user] = makeUsers(peers, 1, 'wide');
    // Texts at their longest, in 4-byte characters: ~15 KB a group, so 1,000 would be ~15 MB.
    // Written straight to the tables (300 CreateGroup + UpdateGroup calls would only be slow).
    const long = (chars: number) => '😀'.repeat(chars);
    const created = Array.from({ length: 300 }, (_, i) => `wide-${Date.now()}-${i}`);
    const at = new Date();
    await svc.deps.sequelize.query(
      `INSERT INTO \`groups\` (group_id, name, avatar_url, intro, notice, owner_id, member_count,
         status, all_muted, created_at, updated_at) VALUES ?`,
      {
        replacements: [
          created.map((id) => [
            id,
            long(64),
            long(1024),
            long(512),
            long(2048),
            user,
            1,
            1,
            0,
            at,
            at,
          ]),
        ],
      },
    );
    await svc.deps.sequelize.query(
      'INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES ?',
      { replacements: [created.map((id) => [id, user, 3, at])] },
    );
    // The test client is a default one: it could not receive an answer over 4 MiB.
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken = '';
    do {
      const page = await svc.client.listUserGroups({ userId: user!, pageSize: 1000, pageToken });
      sizes.push(page.groups.length);
      seen.push(...page.groups.map((g) => g.groupId));
      expect(page.groups.every((g) => g.notice.length === 2 * 2048)).to.equal(true);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    expect(sizes.length).to.equal(2);
    expect(sizes[0]).to.be.within(250, 300);
    expect(seen).to.have.members(created);
    expect(new Set(seen).size).to.equal(created.length);
  });
});
