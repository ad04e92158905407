import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import {
  ContentType,
  ConversationType,
  MessageStatus,
  type SendMessageRequest,
} from '@im-repo/proto/message';
import { DUPLICATE_RACE } from '../src/message.repository';
import { ConversationKind } from '../src/message.types';
import { recordRows } from '../src/record-outbox';
import { expectGrpcError, GrpcStatus, waitFor } from '@im-repo/testing';
import {
  useMessageSuite,
  groupSend,
  recorded,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

const MAX_CONTENT = 1024;

describe('SendMessage', () => {
  let peers: Peers;
  let svc: MessageInstance;
  const alice = uniqueId('alice');
  const bob = uniqueId('bob');
  const carol = uniqueId('carol');
  const groupId = uniqueId('g');

  const suite = useMessageSuite('message-send');
  before(async () => {
    ({ peers } = await suite.open());
    for (const u of [alice, bob, carol]) peers.data.users.add(u);
    peers.data.groups.set(groupId, {
      members: new Map([
        [alice, { role: GroupRole.GROUP_ROLE_OWNER }],
        [bob, { role: GroupRole.GROUP_ROLE_MEMBER }],
      ]),
    });
    svc = await suite.service({
      message: { max_content_bytes: MAX_CONTENT },
    });
  });

  it('stores a single-chat message with seq 1 in the canonical conversation, after commit', async () => {
    const [a, b] = [uniqueId('s'), uniqueId('t')].sort() as [string, string];
    peers.data.users.add(a).add(b);
    const { message, duplicate } = await svc.client.sendMessage(
      textSend(b, a, { content: Buffer.from('hi 😀') }),
    );
    expect(duplicate).to.equal(false);
    expect(message).to.include({
      conversationId: `si_${a}_${b}`,
      conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
      seq: 1,
      senderId: b,
      recipientId: a,
      status: MessageStatus.MESSAGE_STATUS_NORMAL,
    });
    expect(message!.serverMsgId).to.match(/^[0-9A-Z]{26}$/);
    expect(message!.content.toString()).to.equal('hi 😀');
    expect(message!.sentAt).to.be.instanceOf(Date);
    // Durable before the reply: the row is in MySQL.
    const [row] = (await svc.deps.sequelize.query(
      'SELECT seq FROM messages WHERE server_msg_id = ?',
      { replacements: [message!.serverMsgId], type: 'SELECT' },
    )) as { seq: number }[];
    expect(Number(row!.seq)).to.equal(1);
    const second = await svc.client.sendMessage(textSend(a, b));
    expect(second.message!.seq).to.equal(2);
    expect(second.message!.sentAt!.getTime()).to.be.at.least(message!.sentAt!.getTime());
  });

  it('supports a note to self (si_a_a)', async () => {
    const { message } = await svc.client.sendMessage(textSend(carol, carol));
    expect(message!.conversationId).to.equal(`si_${carol}_${carol}`);
    expect(message!.seq).to.equal(1);
  });

  it('sends to a group conversation sg_<group_id>', async () => {
    const { message } = await svc.client.sendMessage(groupSend(bob, groupId));
    expect(message).to.include({
      conversationId: `sg_${groupId}`,
      conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
      recipientId: groupId,
      seq: 1,
    });
  });

  it('is idempotent: a repeat returns the original with duplicate=true, even with other content, and uses no seq', async () => {
    const req = textSend(alice, bob);
    const first = await svc.client.sendMessage(req);
    const again = await svc.client.sendMessage({ ...req, content: Buffer.from('changed') });
    expect(again.duplicate).to.equal(true);
    expect(again.message).to.deep.equal(first.message);
    const next = await svc.client.sendMessage(textSend(alice, bob));
    expect(next.message!.seq).to.equal(first.message!.seq + 1);
  });

  describe('a send committed whose head update never ran (kill -9 between the two)', () => {
    // The commit alone, as the batcher does it, without the head update that follows it.
    const commitOnly = async (
      req: SendMessageRequest,
      conversationId: string,
      type: ConversationKind,
    ) => {
      const outcome = await svc.deps.repository.commitBatch(
        [
          {
            clientMsgId: req.clientMsgId,
            senderId: req.senderId,
            conversationType: type,
            recipientId: req.recipientId,
            conversationId,
            contentType: req.contentType,
            content: Buffer.from(req.content),
          },
        ],
        {
          newId: () => uniqueId('S'),
          enqueue: (t, inserted) => svc.deps.outbox.enqueue(t, recordRows(inserted)),
        },
      );
      // Its record reaches the conversation service; only the head update is lost.
      if (outcome !== DUPLICATE_RACE) await svc.deps.outbox.deliver(outcome.enqueued);
    };
    const maxSeq = async (id: string) =>
      (await svc.client.getMaxSeqs({ conversationIds: [id] })).maxSeqs[id];

    it('the retry that finds the duplicate moves the head forward (single chat)', async () => {
      const [a, b] = [uniqueId('ha'), uniqueId('hb')].sort() as [string, string];
      peers.data.users.add(a).add(b);
      const conversationId = `si_${a}_${b}`;
      await svc.client.sendMessage(textSend(a, b));
      expect(await maxSeq(conversationId)).to.equal(1); // cached now
      const req = textSend(a, b, { content: Buffer.from('crashed') });
      await commitOnly(req, conversationId, ConversationKind.SINGLE);
      expect(await maxSeq(conversationId)).to.equal(1); // the cache is behind, as after the crash

      const retry = await svc.client.sendMessage(req);
      expect(retry.duplicate).to.equal(true);
      expect(retry.message!.seq).to.equal(2);
      expect(await maxSeq(conversationId)).to.equal(2);
      const { heads } = await svc.client.getConversationHeads({
        conversationIds: [conversationId],
        maxSeqOnlyIds: [],
      });
      expect(heads[0]!.lastMessage!.content.toString()).to.equal('crashed');
    });

    it('and so does a retry answered after the sender lost the right to send (group)', async () => {
      const gid = uniqueId('hg');
      const member = uniqueId('hm');
      peers.data.groups.set(gid, {
        members: new Map([[member, { role: GroupRole.GROUP_ROLE_MEMBER }]]),
      });
      const conversationId = `sg_${gid}`;
      await svc.client.sendMessage(groupSend(member, gid));
      expect(await maxSeq(conversationId)).to.equal(1);
      const req = groupSend(member, gid, { content: Buffer.from('crashed') });
      await commitOnly(req, conversationId, ConversationKind.GROUP);
      peers.data.groups.get(gid)!.members.get(member)!.muted = true;

      const retry = await svc.client.sendMessage(req);
      expect(retry.duplicate).to.equal(true);
      expect(retry.message!.seq).to.equal(2);
      expect(await maxSeq(conversationId)).to.equal(2);
    });
  });

  it('keeps client ids that differ only by trailing space or case apart; 64 code points are fine', async () => {
    const base = uniqueId('Sp');
    const a = await svc.client.sendMessage(textSend(alice, bob, { clientMsgId: base }));
    const b = await svc.client.sendMessage(textSend(alice, bob, { clientMsgId: `${base} ` }));
    const c = await svc.client.sendMessage(
      textSend(alice, bob, { clientMsgId: base.toLowerCase() }),
    );
    expect([a.duplicate, b.duplicate, c.duplicate]).to.deep.equal([false, false, false]);
    const emoji = await svc.client.sendMessage(
      textSend(alice, bob, { clientMsgId: '😀'.repeat(64) }),
    );
    expect(emoji.message!.clientMsgId).to.equal('😀'.repeat(64));
    const repeat = await svc.client.sendMessage(
      textSend(alice, bob, { clientMsgId: '😀'.repeat(64) }),
    );
    expect(repeat.duplicate).to.equal(true);
  });

  it('accepts content of exactly the configured cap', async () => {
    const { message } = await svc.client.sendMessage(
      textSend(alice, bob, { content: Buffer.alloc(MAX_CONTENT, 7) }),
    );
    expect(message!.content.length).to.equal(MAX_CONTENT);
  });

  describe('bad input (API.md message table)', () => {
    const cases: [string, string, () => ReturnType<typeof textSend>, string?][] = [
      ['empty client_msg_id', 'client_msg_id', () => textSend(alice, bob, { clientMsgId: '' })],
      [
        '65 code point client_msg_id',
        'client_msg_id',
        () => textSend(alice, bob, { clientMsgId: '😀'.repeat(65) }),
      ],
      ['empty sender_id', 'sender_id', () => textSend('', bob)],
      ['sender_id with _', 'sender_id', () => textSend('a_b', bob)],
      ['65 char sender_id', 'sender_id', () => textSend('x'.repeat(65), bob)],
      [
        'unspecified conversation_type',
        'conversation_type',
        () => textSend(alice, bob, { conversationType: 0 }),
      ],
      [
        'unknown conversation_type',
        'conversation_type',
        () => textSend(alice, bob, { conversationType: 7 as ConversationType }),
      ],
      ['empty recipient_id', 'recipient_id', () => textSend(alice, '')],
      ['recipient_id with space', 'recipient_id', () => textSend(alice, 'b c')],
      ['group id with _', 'recipient_id', () => groupSend(alice, 'g_1')],
      ['unspecified content_type', 'content_type', () => textSend(alice, bob, { contentType: 0 })],
      [
        'unknown content_type 6',
        'content_type',
        () => textSend(alice, bob, { contentType: 6 as ContentType }),
      ],
      ['empty content', 'content', () => textSend(alice, bob, { content: Buffer.alloc(0) })],
      [
        'content above the cap',
        'content',
        () => textSend(alice, bob, { content: Buffer.alloc(MAX_CONTENT + 1) }),
        'CONTENT_TOO_LARGE',
      ],
    ];
    for (const [name, field, make, reason] of cases) {
      it(`${name} is INVALID_ARGUMENT (${reason ?? 'INVALID_ARGUMENT'}) naming ${field}`, async () => {
        const err = await expectGrpcError(
          svc.client.sendMessage(make()),
          GrpcStatus.INVALID_ARGUMENT,
          reason ?? 'INVALID_ARGUMENT',
        );
        expect(err.metadata.field).to.equal(field);
        expect(err.domain).to.equal('im.message.v1');
      });
    }

    it('validates before checking existence (bad content to an unknown user)', async () => {
      await expectGrpcError(
        svc.client.sendMessage(textSend(alice, 'nobody-at-all', { content: Buffer.alloc(0) })),
        GrpcStatus.INVALID_ARGUMENT,
      );
    });

    it('an unknown sender or recipient is NOT_FOUND USER_NOT_FOUND', async () => {
      const e1 = await expectGrpcError(
        svc.client.sendMessage(textSend('ghost-sender', bob)),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(e1.metadata.user_id).to.equal('ghost-sender');
      const e2 = await expectGrpcError(
        svc.client.sendMessage(textSend(alice, 'ghost-recipient')),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(e2.metadata.user_id).to.equal('ghost-recipient');
      expect(e2.domain).to.equal('im.message.v1');
    });

    it('a user registered after a NOT_FOUND can send at once (negatives are not cached)', async () => {
      const late = uniqueId('late');
      await expectGrpcError(svc.client.sendMessage(textSend(late, bob)), GrpcStatus.NOT_FOUND);
      peers.data.users.add(late);
      expect((await svc.client.sendMessage(textSend(late, bob))).message!.seq).to.equal(1);
    });

    it('known users skip the user service on later sends', async () => {
      await svc.client.sendMessage(textSend(alice, carol));
      const before = peers.data.batchGetUsersCalls;
      for (let i = 0; i < 5; i++) await svc.client.sendMessage(textSend(alice, carol));
      await svc.client.sendMessage(textSend(carol, alice));
      expect(peers.data.batchGetUsersCalls).to.equal(before);
    });
  });

  describe('group permissions (relayed from GroupService.CheckSendPermission)', () => {
    const gid = uniqueId('perm');
    const owner = uniqueId('own');
    const admin = uniqueId('adm');
    const member = uniqueId('mem');
    const muted = uniqueId('mut');
    const outsider = uniqueId('out');

    before(() => {
      peers.data.groups.set(gid, {
        members: new Map([
          [owner, { role: GroupRole.GROUP_ROLE_OWNER }],
          [admin, { role: GroupRole.GROUP_ROLE_ADMIN }],
          [member, { role: GroupRole.GROUP_ROLE_MEMBER }],
          [muted, { role: GroupRole.GROUP_ROLE_ADMIN, muted: true }],
        ]),
      });
      peers.data.groups.set(`${gid}-gone`, { dismissed: true, members: new Map() });
    });

    it('unknown group: NOT_FOUND GROUP_NOT_FOUND', async () => {
      const err = await expectGrpcError(
        svc.client.sendMessage(groupSend(owner, `${gid}-none`)),
        GrpcStatus.NOT_FOUND,
        'GROUP_NOT_FOUND',
      );
      expect(err.domain).to.equal('im.message.v1');
    });

    it('dismissed group: FAILED_PRECONDITION GROUP_DISMISSED', async () => {
      await expectGrpcError(
        svc.client.sendMessage(groupSend(owner, `${gid}-gone`)),
        GrpcStatus.FAILED_PRECONDITION,
        'GROUP_DISMISSED',
      );
    });

    it('non-member: PERMISSION_DENIED NOT_GROUP_MEMBER; muted member: MEMBER_MUTED', async () => {
      await expectGrpcError(
        svc.client.sendMessage(groupSend(outsider, gid)),
        GrpcStatus.PERMISSION_DENIED,
        'NOT_GROUP_MEMBER',
      );
      await expectGrpcError(
        svc.client.sendMessage(groupSend(muted, gid)),
        GrpcStatus.PERMISSION_DENIED,
        'MEMBER_MUTED',
      );
    });

    it('concurrent group sends are checked through CheckSendPermissions; each gets its own answer', async () => {
      const before = peers.data.sendCheckCalls.length;
      const senders = [owner, admin, member, muted, outsider, member, owner, admin];
      const outcomes = await Promise.all(
        senders.map((s) =>
          svc.client.sendMessage(groupSend(s, gid)).then(
            (r) => `ok ${r.message!.senderId}`,
            (e: { details?: string; code?: number }) => `refused ${e.code}`,
          ),
        ),
      );
      expect(outcomes).to.deep.equal([
        `ok ${owner}`,
        `ok ${admin}`,
        `ok ${member}`,
        `refused ${GrpcStatus.PERMISSION_DENIED}`,
        `refused ${GrpcStatus.PERMISSION_DENIED}`,
        `ok ${member}`,
        `ok ${owner}`,
        `ok ${admin}`,
      ]);
      // How many share a call depends on when their sends reach the check (send-checks.test.ts).
      const calls = peers.data.sendCheckCalls.slice(before);
      expect(calls.reduce((a, b) => a + b, 0)).to.equal(senders.length);
    });

    it('a check is made after its send arrived: a member removed since an earlier send is refused', async () => {
      const leaving = uniqueId('lea');
      const g = peers.data.groups.get(gid)!;
      g.members.set(leaving, { role: GroupRole.GROUP_ROLE_MEMBER });
      await svc.client.sendMessage(groupSend(leaving, gid));
      g.members.delete(leaving);
      await expectGrpcError(
        svc.client.sendMessage(groupSend(leaving, gid)),
        GrpcStatus.PERMISSION_DENIED,
        'NOT_GROUP_MEMBER',
      );
    });

    it('all-muted stops plain members but not the owner or admins', async () => {
      peers.data.groups.get(gid)!.allMuted = true;
      try {
        await expectGrpcError(
          svc.client.sendMessage(groupSend(member, gid)),
          GrpcStatus.PERMISSION_DENIED,
          'MEMBER_MUTED',
        );
        await svc.client.sendMessage(groupSend(owner, gid));
        await svc.client.sendMessage(groupSend(admin, gid));
      } finally {
        peers.data.groups.get(gid)!.allMuted = false;
      }
    });

    it('a retry of a message accepted before the sender was muted is still its duplicate', async () => {
      const req = groupSend(member, gid);
      const first = await svc.client.sendMessage(req);
      peers.data.groups.get(gid)!.members.get(member)!.muted = true;
      try {
        const again = await svc.client.sendMessage(req);
        expect(again.duplicate).to.equal(true);
        expect(again.message).to.deep.equal(first.message);
        await expectGrpcError(
          svc.client.sendMessage(groupSend(member, gid)),
          GrpcStatus.PERMISSION_DENIED,
          'MEMBER_MUTED',
        );
      } finally {
        peers.data.groups.get(gid)!.members.get(member)!.muted = false;
      }
    });
  });

  describe('conversation records (RecordMessages)', () => {
    it("records the sender's own send before SendMessage returns, one call per batch", async () => {
      const [x, y] = [uniqueId('rx'), uniqueId('ry')];
      peers.data.users.add(x).add(y);
      await svc.client.sendMessage(textSend(x, y)); // users now known: no peer call in the way
      const batchesBefore = await batchCount(svc);
      const callsBefore = peers.data.recordCalls.length;
      const seenAtReply: boolean[] = [];
      const sends = Array.from({ length: 60 }, (_, i) =>
        svc.client.sendMessage(textSend(i % 2 ? x : y, i % 2 ? y : x)).then(({ message }) => {
          seenAtReply.push(
            recorded(peers.data).some(
              (r) => r.conversationId === message!.conversationId && r.seq === message!.seq,
            ),
          );
          return message!;
        }),
      );
      const messages = await Promise.all(sends);
      expect(seenAtReply).to.have.length(60);
      expect(seenAtReply.every(Boolean)).to.equal(true);
      const calls = peers.data.recordCalls.slice(callsBefore);
      const batches = (await batchCount(svc)) - batchesBefore;
      expect(calls.length).to.equal(batches);
      expect(calls.length).to.be.lessThan(60);
      const records = calls.flat();
      expect(records).to.have.length(60);
      const bySeq = new Map(records.map((r) => [r.seq, r]));
      for (const m of messages) {
        expect(bySeq.get(m.seq)).to.deep.include({
          conversationId: m.conversationId,
          conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
          senderId: m.senderId,
          recipientId: m.recipientId,
          sentAt: m.sentAt,
        });
      }
      // Delivered inline, so the outbox empties without the drainer (its rows are not due yet).
      await waitFor(async () => (await svc.deps.outbox.countPending()) === 0, {
        timeoutMs: 5000,
        what: 'the delivered rows to be removed',
      });
    });

    it('records a group send once, naming the group as recipient', async () => {
      const before = recorded(peers.data).length;
      const { message } = await svc.client.sendMessage(groupSend(alice, groupId));
      const added = recorded(peers.data).slice(before);
      expect(added).to.have.length(1);
      expect(added[0]).to.deep.include({
        conversationId: `sg_${groupId}`,
        conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
        senderId: alice,
        recipientId: groupId,
        seq: message!.seq,
      });
    });

    it('does not record a duplicate again', async () => {
      const req = textSend(alice, bob);
      await svc.client.sendMessage(req);
      const before = recorded(peers.data).length;
      expect((await svc.client.sendMessage(req)).duplicate).to.equal(true);
      expect(recorded(peers.data).length).to.equal(before);
    });
  });
});

async function batchCount(svc: MessageInstance): Promise<number> {
  const metric = await svc.deps.messageMetrics.batchSize.get();
  return metric.values.find((v) => v.metricName === 'message_send_batch_size_count')?.value ?? 0;
}
