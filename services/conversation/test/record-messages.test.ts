import { expect } from 'chai';
import type { MessageRecord } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { startStack, uid, type Stack } from './harness';

const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;

describe('RecordMessages and AddParticipants: idempotent, order-independent', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('conv-record');
  });
  after(async () => {
    await stack?.teardown();
  });

  const query = async <T>(sql: string, replacements: unknown[]) =>
    (await stack.svc.deps.sequelize.query(sql, { replacements, type: 'SELECT' })) as T[];

  async function state(conversationIds: string[]) {
    const rows = await query<Record<string, unknown>>(
      `SELECT user_id, conversation_id, conversation_type, peer_id, read_seq, pinned, muted,
              hidden_seq, created_at, updated_at
       FROM user_conversations WHERE conversation_id IN (?) ORDER BY user_id, conversation_id`,
      [conversationIds],
    );
    const activity = await query<Record<string, unknown>>(
      `SELECT conversation_id, max_seq, last_sent_at, updated_at FROM conversation_activity
       WHERE conversation_id IN (?) ORDER BY conversation_id`,
      [conversationIds],
    );
    return { rows, activity };
  }

  it('shuffled, duplicated, concurrent batches give exactly the state the records imply', async () => {
    const users = Array.from({ length: 5 }, (_, i) => uid(`r${i}`));
    const members = users.slice(0, 4);
    const groupId = uid('grp');
    await stack.client.addParticipants({
      conversationId: `sg_${groupId}`,
      conversationType: GROUP,
      peerId: groupId,
      userIds: members,
    });
    const records: MessageRecord[] = [];
    for (let i = 0; i < 120; i++) {
      if (Math.random() < 0.4) {
        records.push(stack.messages.send(pick(members), 'group', groupId));
      } else {
        const sender = pick(users);
        // Now and then a note to self.
        const recipient = Math.random() < 0.1 ? sender : pick(users.filter((u) => u !== sender));
        records.push(stack.messages.send(sender, 'single', recipient));
      }
    }

    // What the records imply, computed independently of the service.
    const expectedActivity = new Map<string, { max_seq: number; last_sent_at: Date }>();
    const expectedRows = new Map<string, { peer_id: string; read_seq: number }>();
    for (const m of members) {
      expectedRows.set(`${m} sg_${groupId}`, { peer_id: groupId, read_seq: 0 });
    }
    for (const r of records) {
      const a = expectedActivity.get(r.conversationId);
      if (!a || r.seq > a.max_seq) {
        expectedActivity.set(r.conversationId, { max_seq: r.seq, last_sent_at: r.sentAt! });
      }
      const own = `${r.senderId} ${r.conversationId}`;
      const ownRow = expectedRows.get(own);
      expectedRows.set(own, {
        peer_id: r.recipientId,
        read_seq: Math.max(ownRow?.read_seq ?? 0, r.seq),
      });
      const other = `${r.recipientId} ${r.conversationId}`;
      if (r.conversationType !== GROUP && !expectedRows.has(other)) {
        expectedRows.set(other, { peer_id: r.senderId, read_seq: 0 });
      }
    }

    // Shuffled, 30% sent twice, in random batches, four batches at a time.
    const deliveries = shuffle([...records, ...records.filter(() => Math.random() < 0.3)]);
    const batches: MessageRecord[][] = [];
    for (let i = 0; i < deliveries.length;) {
      const n = 1 + Math.floor(Math.random() * 15);
      batches.push(deliveries.slice(i, i + n));
      i += n;
    }
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map((b) => stack.client.recordMessages({ records: b })),
      );
    }

    const ids = [...expectedActivity.keys(), `sg_${groupId}`];
    const got = await state(ids);
    expect(
      got.activity.map((a) => ({
        conversation_id: a.conversation_id,
        max_seq: a.max_seq,
        last_sent_at: a.last_sent_at,
      })),
    ).to.deep.equal(
      [...expectedActivity.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([conversation_id, a]) => ({ conversation_id, ...a })),
    );
    expect(
      new Map(
        got.rows.map((r) => [
          `${String(r.user_id)} ${String(r.conversation_id)}`,
          { peer_id: r.peer_id, read_seq: r.read_seq },
        ]),
      ),
    ).to.deep.equal(expectedRows);

    // Replaying everything again, newest first, writes nothing at all.
    await stack.client.recordMessages({ records: [...records].reverse() });
    expect(await state(ids)).to.deep.equal(got);
  });

  it('a replayed older record moves no read_seq back and does not un-hide', async () => {
    const a = uid('ra');
    const b = uid('rb');
    const records = Array.from({ length: 6 }, (_, i) =>
      stack.messages.send(i % 2 ? b : a, 'single', i % 2 ? a : b),
    );
    await stack.client.recordMessages({ records });
    const conversationId = records[0]!.conversationId;
    await stack.client.markRead({ userId: b, conversationId, readSeq: 0 });
    await stack.client.hideConversation({ userId: a, conversationId });
    const before = await state([conversationId]);
    for (const r of shuffle(records)) await stack.client.recordMessages({ records: [r] });
    expect(await state([conversationId])).to.deep.equal(before);
    const listed = await stack.client.listConversations({ userId: a, pageSize: 0, pageToken: '' });
    expect(listed.conversations.map((c) => c.conversationId)).to.not.include(conversationId);
    expect(
      (await stack.client.getConversation({ userId: b, conversationId })).conversation,
    ).to.include({ readSeq: 6, unreadCount: 0 });
  });

  it('a group sender whose AddParticipants has not arrived yet gets a row; the late join leaves it', async () => {
    const groupId = uid('late');
    const early = uid('early');
    const late = uid('late-member');
    await stack.client.addParticipants({
      conversationId: `sg_${groupId}`,
      conversationType: GROUP,
      peerId: groupId,
      userIds: [early],
    });
    const records = [
      stack.messages.send(early, 'group', groupId),
      stack.messages.send(early, 'group', groupId),
      stack.messages.send(late, 'group', groupId),
      stack.messages.send(early, 'group', groupId),
    ];
    await stack.client.recordMessages({ records });
    expect(
      (await stack.client.getConversation({ userId: late, conversationId: `sg_${groupId}` }))
        .conversation,
    ).to.include({ readSeq: 3, unreadCount: 1, peerId: groupId });
    await stack.client.addParticipants({
      conversationId: `sg_${groupId}`,
      conversationType: GROUP,
      peerId: '',
      userIds: [late],
    });
    expect(
      (await stack.client.getConversation({ userId: late, conversationId: `sg_${groupId}` }))
        .conversation,
    ).to.include({ readSeq: 3, unreadCount: 1 });
  });

  it('a send to a group of 300 writes one activity row and the sender’s row, nothing per member', async () => {
    const groupId = uid('big');
    const conversationId = `sg_${groupId}`;
    const members = Array.from({ length: 300 }, (_, i) => `${groupId}-m${i}`);
    await stack.client.addParticipants({
      conversationId,
      conversationType: GROUP,
      peerId: groupId,
      userIds: members,
    });
    const before = await state([conversationId]);
    await stack.client.recordMessages({
      records: [stack.messages.send(members[7]!, 'group', groupId)],
    });
    const after = await state([conversationId]);
    const changed = after.rows.filter(
      (r, i) => JSON.stringify(r) !== JSON.stringify(before.rows[i]),
    );
    expect(after.rows).to.have.length(300);
    expect(changed.map((r) => r.user_id)).to.deep.equal([members[7]]);
    expect(after.activity).to.have.length(1);
    const totals = await Promise.all(
      members.slice(0, 5).map((userId) => stack.client.getTotalUnread({ userId })),
    );
    expect(totals.map((t) => t.totalUnread)).to.deep.equal([1, 1, 1, 1, 1]);
  });

  it('single-chat AddParticipants gives each user the other one as peer, starting fully read', async () => {
    const a = uid('pa');
    const b = uid('pb');
    const records = [stack.messages.send(a, 'single', b), stack.messages.send(a, 'single', b)];
    const conversationId = records[0]!.conversationId;
    // Rows made before any record arrives start at the current max_seq.
    await stack.client.addParticipants({
      conversationId,
      conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
      peerId: '',
      userIds: [b, a],
    });
    expect(
      (await stack.client.getConversation({ userId: b, conversationId })).conversation,
    ).to.include({ peerId: a, readSeq: 2, unreadCount: 0 });
    expect(
      (await stack.client.getConversation({ userId: a, conversationId })).conversation,
    ).to.include({ peerId: b, readSeq: 2 });
  });

  it('empty RecordMessages and AddParticipants are no-ops', async () => {
    await stack.client.recordMessages({ records: [] });
    const callsBefore = stack.messages.maxSeqsCalls;
    await stack.client.addParticipants({
      conversationId: `sg_${uid('empty')}`,
      conversationType: GROUP,
      peerId: '',
      userIds: [],
    });
    expect(stack.messages.maxSeqsCalls).to.equal(callsBefore);
  });
});
