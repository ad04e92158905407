import { expect } from 'chai';
import { ConversationType } from '@im-repo/proto/message';
import { expectGrpcError, GrpcStatus } from '@im-repo/testing';
import { startStack, uid, type Stack } from './harness';

/** RecordCleared: a user's ClearHistory floor, from the message service's outbox. */
describe('RecordCleared (internal): cleared rows', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('conv-cleared');
  });
  after(async () => {
    await stack?.teardown();
  });

  const pair = () => [uid('ca'), uid('cb')].sort() as [string, string];

  it('validates every record (field paths), and an empty call is a no-op', async () => {
    const [a, b] = pair();
    const cid = `si_${a}_${b}`;
    const bad = [
      [{ userId: 'x_y', conversationId: cid, clearedSeq: 1 }, 'records[0].user_id'],
      [{ userId: a, conversationId: `si_${b}_${a}`, clearedSeq: 1 }, 'records[0].conversation_id'],
      [{ userId: uid('c'), conversationId: cid, clearedSeq: 1 }, 'records[0].user_id'],
      [{ userId: a, conversationId: cid, clearedSeq: 0 }, 'records[0].cleared_seq'],
    ] as const;
    for (const [record, field] of bad) {
      const err = await expectGrpcError(
        stack.client.recordCleared({ records: [record] }),
        GrpcStatus.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      );
      expect(err.metadata.field).to.equal(field);
    }
    await stack.client.recordCleared({ records: [] });
  });

  it('unread 0 and no last message up to the floor; a newer message shows; the peer is untouched', async () => {
    const [a, b] = pair();
    const cid = `si_${a}_${b}`;
    const records = [stack.messages.send(b, 'single', a), stack.messages.send(b, 'single', a)];
    await stack.client.recordMessages({ records });
    await stack.client.recordCleared({
      records: [{ userId: a, conversationId: cid, clearedSeq: 2 }],
    });
    const { conversation } = await stack.client.getConversation({ userId: a, conversationId: cid });
    expect(conversation).to.deep.include({ maxSeq: 2, readSeq: 2, unreadCount: 0 });
    expect(conversation!.lastMessage).to.equal(undefined);
    expect(conversation!.updatedAt).to.deep.equal(records[1]!.sentAt);
    const peer = await stack.client.getConversation({ userId: b, conversationId: cid });
    expect(peer.conversation!.lastMessage!.seq).to.equal(2);

    const third = stack.messages.send(b, 'single', a);
    await stack.client.recordMessages({ records: [third] });
    const after = await stack.client.getConversation({ userId: a, conversationId: cid });
    expect(after.conversation).to.deep.include({ maxSeq: 3, unreadCount: 1 });
    expect(after.conversation!.lastMessage!.seq).to.equal(3);
  });

  it('floors only rise: replays and older floors change nothing; order does not matter', async () => {
    const [a, b] = pair();
    const cid = `si_${a}_${b}`;
    const records = [1, 2, 3, 4].map(() => stack.messages.send(b, 'single', a));
    await stack.client.recordMessages({ records });
    const at = (clearedSeq: number) => ({ userId: a, conversationId: cid, clearedSeq });
    await stack.client.recordCleared({ records: [at(3), at(1)] });
    await stack.client.recordCleared({ records: [at(2)] });
    await stack.client.recordCleared({ records: [at(3)] });
    const { conversation } = await stack.client.getConversation({ userId: a, conversationId: cid });
    expect(conversation).to.deep.include({ maxSeq: 4, readSeq: 3, unreadCount: 1 });
    expect(conversation!.lastMessage!.seq).to.equal(4);
  });

  it('a floor that arrives before the conversation’s records creates the row; the late records do not bring the cleared messages back', async () => {
    const [a, b] = pair();
    const cid = `si_${a}_${b}`;
    const records = [stack.messages.send(b, 'single', a), stack.messages.send(b, 'single', a)];
    await stack.client.recordCleared({
      records: [{ userId: a, conversationId: cid, clearedSeq: 2 }],
    });
    await stack.client.recordMessages({ records });
    const { conversation } = await stack.client.getConversation({ userId: a, conversationId: cid });
    expect(conversation).to.deep.include({
      peerId: b,
      conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
      maxSeq: 2,
      unreadCount: 0,
    });
    expect(conversation!.lastMessage).to.equal(undefined);
  });
});
