import { expect } from 'chai';
import { startStack, uid, type Stack } from './harness';

describe('read positions under concurrency', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('conv-read');
  });
  after(async () => {
    await stack?.teardown();
  });

  /** A single chat where `reader` has `count` unread messages from a new peer. */
  async function unreadChat(count: number) {
    const reader = uid('reader');
    const writer = uid('writer');
    const records = Array.from({ length: count }, () =>
      stack.messages.send(writer, 'single', reader),
    );
    await stack.client.recordMessages({ records });
    return { reader, writer, conversationId: records[0]!.conversationId };
  }

  const readSeqOf = async (userId: string, conversationId: string) =>
    (await stack.client.getConversation({ userId, conversationId })).conversation!.readSeq;

  it('100 concurrent MarkRead with random seqs end at the highest (clamped to max_seq)', async () => {
    const { reader, conversationId } = await unreadChat(500);
    // Mostly below max_seq, some above it (clamped).
    const seqs = Array.from({ length: 100 }, () => 1 + Math.floor(Math.random() * 560));
    const responses = await Promise.all(
      seqs.map((readSeq) => stack.client.markRead({ userId: reader, conversationId, readSeq })),
    );
    const expected = Math.min(500, Math.max(...seqs));
    expect(await readSeqOf(reader, conversationId)).to.equal(expected);
    responses.forEach(({ conversation }, i) => {
      // Each answer already shows at least what it asked for: nothing went backwards.
      expect(conversation!.readSeq).to.be.at.least(Math.min(500, seqs[i]!));
      expect(conversation!.readSeq).to.be.at.most(500);
      expect(conversation!.unreadCount).to.equal(500 - conversation!.readSeq);
    });
  });

  it('a second burst of lower seqs changes nothing', async () => {
    const { reader, conversationId } = await unreadChat(300);
    await stack.client.markRead({ userId: reader, conversationId, readSeq: 250 });
    const seqs = Array.from({ length: 100 }, () => 1 + Math.floor(Math.random() * 249));
    const responses = await Promise.all(
      seqs.map((readSeq) => stack.client.markRead({ userId: reader, conversationId, readSeq })),
    );
    for (const { conversation } of responses) expect(conversation!.readSeq).to.equal(250);
    expect(await readSeqOf(reader, conversationId)).to.equal(250);
  });

  it('MarkRead racing the reader’s own sends and replayed records ends at the highest', async () => {
    const { reader, writer, conversationId } = await unreadChat(200);
    const own = Array.from({ length: 5 }, () => stack.messages.send(reader, 'single', writer));
    const old = Array.from({ length: 20 }, () => stack.messages.send(writer, 'single', reader));
    // max_seq is now 225; the reader's own sends are seqs 201-205.
    const calls: Promise<unknown>[] = [];
    const asked: number[] = [];
    for (let i = 0; i < 60; i++) {
      const readSeq = 1 + Math.floor(Math.random() * 210);
      asked.push(readSeq);
      calls.push(stack.client.markRead({ userId: reader, conversationId, readSeq }));
      if (i % 10 === 0) {
        calls.push(stack.client.recordMessages({ records: [...own].reverse() }));
        calls.push(stack.client.recordMessages({ records: old.slice(0, 1 + (i % 7)) }));
      }
    }
    await Promise.all(calls);
    const final = await readSeqOf(reader, conversationId);
    expect(final).to.equal(Math.max(205, ...asked));
    // Any later MarkRead 0 reads everything.
    const { conversation } = await stack.client.markRead({
      userId: reader,
      conversationId,
      readSeq: 0,
    });
    expect(conversation).to.include({ readSeq: 225, unreadCount: 0, maxSeq: 225 });
  });
});
