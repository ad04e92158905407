import { Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { MessageRecord } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { startStack, uid, type Stack } from './harness';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;
const BIG = 2 ** 60;

function varint(v: bigint): Buffer {
  const out: number[] = [];
  for (; v > 127n; v >>= 7n) out.push(Number(v & 127n) | 128);
  out.push(Number(v));
  return Buffer.from(out);
}
const varintField = (no: number, v: bigint) => Buffer.concat([varint(BigInt(no << 3)), varint(v)]);
const bytesField = (no: number, payload: Buffer) =>
  Buffer.concat([varint(BigInt((no << 3) | 2)), varint(BigInt(payload.length)), payload]);

describe('bad input gets its code', () => {
  let stack: Stack;
  const a = uid('va');
  const b = uid('vb');
  const direct = a < b ? `si_${a}_${b}` : `si_${b}_${a}`;
  const reversed = a < b ? `si_${b}_${a}` : `si_${a}_${b}`;

  before(async () => {
    stack = await startStack('conv-validation');
    await stack.client.recordMessages({ records: [stack.messages.send(a, 'single', b)] });
  });
  after(async () => {
    await stack?.teardown();
  });

  /** Sends hand-made bytes, as a client with another protobuf library might. */
  const rawCall = (rpc: string, body: Buffer) =>
    new Promise((resolve, reject) => {
      stack.client.raw.makeUnaryRequest(
        `/im.conversation.v1.ConversationService/${rpc}`,
        (x: Buffer) => x,
        (x: Buffer) => x,
        body,
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });

  const invalid = async (call: Promise<unknown>, field: string) => {
    const err = await expectGrpcError(call, GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(err.metadata.field).to.equal(field);
    expect(err.domain).to.equal('im.conversation.v1');
    return err;
  };

  const BAD_CONVERSATION_IDS = ['', 'x', reversed, 'si_a', 'si_a_b_c', 'sg_', 'sg_a_b', 'si_a_b!'];

  describe('user-facing rpcs', () => {
    it('ListConversations: user_id, page_size, page_token', async () => {
      const c = stack.client;
      await invalid(c.listConversations({ userId: '', pageSize: 0, pageToken: '' }), 'user_id');
      await invalid(c.listConversations({ userId: 'a_b', pageSize: 0, pageToken: '' }), 'user_id');
      await invalid(
        c.listConversations({ userId: 'x'.repeat(65), pageSize: 0, pageToken: '' }),
        'user_id',
      );
      await invalid(c.listConversations({ userId: a, pageSize: -1, pageToken: '' }), 'page_size');
      for (const pageToken of [
        'not a token!',
        'e30',
        Buffer.from('{"c":"","o":0,"p":0,"t":1,"i":"nope"}').toString('base64url'),
        Buffer.from('{"c":"","o":-1,"p":0,"t":1,"i":"sg_x"}').toString('base64url'),
        Buffer.from('[1,2]').toString('base64url'),
        Buffer.from('null').toString('base64url'),
      ]) {
        await invalid(c.listConversations({ userId: a, pageSize: 0, pageToken }), 'page_token');
      }
      await invalid(c.getTotalUnread({ userId: 'bad id' }), 'user_id');
    });

    it('conversation rpcs: user_id and canonical conversation_id', async () => {
      const c = stack.client;
      const calls = [
        (userId: string, conversationId: string) => c.getConversation({ userId, conversationId }),
        (userId: string, conversationId: string) =>
          c.markRead({ userId, conversationId, readSeq: 0 }),
        (userId: string, conversationId: string) =>
          c.setPinned({ userId, conversationId, pinned: true }),
        (userId: string, conversationId: string) =>
          c.setMuted({ userId, conversationId, muted: true }),
        (userId: string, conversationId: string) => c.hideConversation({ userId, conversationId }),
      ];
      for (const call of calls) {
        await invalid(call('', direct), 'user_id');
        await invalid(call('a_b', direct), 'user_id');
        for (const id of BAD_CONVERSATION_IDS) await invalid(call(a, id), 'conversation_id');
      }
    });

    it('MarkRead: negative read_seq, and a read_seq beyond 2^53, are INVALID_ARGUMENT', async () => {
      await invalid(
        stack.client.markRead({ userId: a, conversationId: direct, readSeq: -1 }),
        'read_seq',
      );
      await invalid(
        stack.client.markRead({ userId: a, conversationId: direct, readSeq: BIG }),
        'read_seq',
      );
      // Validation comes before existence.
      await invalid(
        stack.client.markRead({ userId: uid('ghost'), conversationId: direct, readSeq: -5 }),
        'read_seq',
      );
    });

    it('a conversation the user does not have is NOT_FOUND CONVERSATION_NOT_FOUND', async () => {
      const c = stack.client;
      const stranger = uid('stranger');
      const missing = [
        c.getConversation({ userId: stranger, conversationId: direct }),
        c.markRead({ userId: stranger, conversationId: direct, readSeq: 1 }),
        c.setPinned({ userId: a, conversationId: `sg_${uid('nog')}`, pinned: true }),
        c.setMuted({ userId: stranger, conversationId: direct, muted: false }),
        c.hideConversation({ userId: stranger, conversationId: direct }),
      ];
      for (const call of missing) {
        const err = await expectGrpcError(call, GrpcStatus.NOT_FOUND, 'CONVERSATION_NOT_FOUND');
        expect(err.domain).to.equal('im.conversation.v1');
      }
      // Nothing was created by the failed calls.
      const listed = await c.listConversations({ userId: stranger, pageSize: 0, pageToken: '' });
      expect(listed.conversations).to.deep.equal([]);
    });
  });

  describe('RecordMessages', () => {
    const good = (): MessageRecord => stack.messages.send(a, 'single', b);
    const cases: [string, (r: MessageRecord) => MessageRecord, string][] = [
      ['empty conversation id', (r) => ({ ...r, conversationId: '' }), 'conversation_id'],
      ['non-canonical id', (r) => ({ ...r, conversationId: reversed }), 'conversation_id'],
      ['garbage id', (r) => ({ ...r, conversationId: 'si_x' }), 'conversation_id'],
      [
        'unspecified type',
        (r) => ({ ...r, conversationType: ConversationType.CONVERSATION_TYPE_UNSPECIFIED }),
        'conversation_type',
      ],
      [
        'unknown type',
        (r) => ({ ...r, conversationType: 7 as ConversationType }),
        'conversation_type',
      ],
      ['type not matching the id', (r) => ({ ...r, conversationType: GROUP }), 'conversation_type'],
      ['bad sender', (r) => ({ ...r, senderId: 'a_b' }), 'sender_id'],
      ['empty recipient', (r) => ({ ...r, recipientId: '' }), 'recipient_id'],
      ['id not of sender and recipient', (r) => ({ ...r, senderId: uid('z') }), 'conversation_id'],
      [
        'group id not the recipient',
        (r) => ({
          ...r,
          conversationId: 'sg_g1',
          conversationType: GROUP,
          recipientId: 'g2',
        }),
        'conversation_id',
      ],
      ['seq 0', (r) => ({ ...r, seq: 0 }), 'seq'],
      ['negative seq', (r) => ({ ...r, seq: -3 }), 'seq'],
      ['seq beyond 2^53', (r) => ({ ...r, seq: BIG }), 'seq'],
      ['missing sent_at', (r) => ({ ...r, sentAt: undefined }), 'sent_at'],
      ['sent_at after year 9999', (r) => ({ ...r, sentAt: new Date('+020000-01-01') }), 'sent_at'],
      ['sent_at before 1970', (r) => ({ ...r, sentAt: new Date('1960-01-01') }), 'sent_at'],
    ];
    for (const [name, spoil, field] of cases) {
      it(`${name}: records[1].${field}, and nothing of the batch is applied`, async () => {
        const first = good();
        const bad = spoil(good());
        await invalid(
          stack.client.recordMessages({ records: [first, bad] }),
          `records[1].${field}`,
        );
        const [{ n }] = (await stack.svc.deps.sequelize.query(
          'SELECT COUNT(*) AS n FROM conversation_activity WHERE conversation_id = ? AND max_seq >= ?',
          { replacements: [first.conversationId, first.seq], type: 'SELECT' },
        )) as { n: number }[];
        expect(Number(n)).to.equal(0);
      });
    }

    it('more than 10,000 records is INVALID_ARGUMENT on records', async () => {
      const r = good();
      await invalid(
        stack.client.recordMessages({ records: Array.from({ length: 10_001 }, () => r) }),
        'records',
      );
    });

    it('a group record is accepted for any sender (membership is the message service’s)', async () => {
      const g = uid('g');
      await stack.client.recordMessages({ records: [stack.messages.send(a, 'group', g)] });
      const { conversation } = await stack.client.getConversation({
        userId: a,
        conversationId: `sg_${g}`,
      });
      expect(conversation).to.include({ peerId: g, readSeq: 1, unreadCount: 0 });
    });

    it('a sent_at whose seconds exceed 2^53 is records[0].sent_at.seconds, not INTERNAL', async () => {
      const record = Buffer.concat([
        bytesField(1, Buffer.from(direct)),
        varintField(2, 1n),
        bytesField(3, Buffer.from(a)),
        bytesField(4, Buffer.from(b)),
        varintField(5, 1n),
        bytesField(6, varintField(1, 2n ** 60n)),
      ]);
      await invalid(rawCall('RecordMessages', bytesField(1, record)), 'records[0].sent_at.seconds');
      const seq = Buffer.concat([bytesField(1, Buffer.from(direct)), varintField(2, 1n)]);
      const bigSeq = Buffer.concat([seq, varintField(5, 2n ** 62n)]);
      await invalid(
        rawCall(
          'RecordMessages',
          Buffer.concat([bytesField(1, record.subarray(0, 0)), bytesField(1, bigSeq)]),
        ),
        'records[1].seq',
      );
    });

    it('bytes that are no protobuf at all are INVALID_ARGUMENT on request', async () => {
      await invalid(rawCall('GetConversation', Buffer.from([0xff, 0xff, 0xff])), 'request');
    });
  });

  describe('AddParticipants', () => {
    const req = (over: Partial<Parameters<typeof stack.client.addParticipants>[0]> = {}) =>
      stack.client.addParticipants({
        conversationId: 'sg_grp1',
        conversationType: GROUP,
        peerId: 'grp1',
        userIds: [a, b],
        ...over,
      });

    it('rejects each bad field', async () => {
      await invalid(req({ conversationId: '' }), 'conversation_id');
      await invalid(req({ conversationId: 'sg_a_b' }), 'conversation_id');
      await invalid(
        req({ conversationType: ConversationType.CONVERSATION_TYPE_UNSPECIFIED }),
        'conversation_type',
      );
      await invalid(req({ conversationType: SINGLE }), 'conversation_type');
      await invalid(req({ peerId: 'grp2' }), 'peer_id');
      await invalid(req({ userIds: [a, 'bad_id'] }), 'user_ids[1]');
      await invalid(req({ userIds: Array.from({ length: 5001 }, (_, i) => `u${i}`) }), 'user_ids');
      const single = { conversationId: direct, conversationType: SINGLE };
      await invalid(req({ ...single, peerId: 'someone-else' }), 'peer_id');
      await invalid(req({ ...single, peerId: '', userIds: [uid('outsider')] }), 'user_ids[0]');
    });

    it('accepts 5,000 users in one call', async () => {
      const g = uid('huge');
      await req({
        conversationId: `sg_${g}`,
        peerId: g,
        userIds: Array.from({ length: 5000 }, (_, i) => `${g}-${i}`),
      });
      const [{ n }] = (await stack.svc.deps.sequelize.query(
        'SELECT COUNT(*) AS n FROM user_conversations WHERE conversation_id = ?',
        { replacements: [`sg_${g}`], type: 'SELECT' },
      )) as { n: number }[];
      expect(Number(n)).to.equal(5000);
    });
  });
});
