import { expect } from 'chai';
import { ContentType } from '@im-repo/proto/message';
import { deleteRedisPrefix, type TestEnvironment } from '@im-repo/testing';
import { PREVIEW_BYTES } from '../src/preview';
import { useMessageSuite, textSend, uniqueId, type MessageInstance, type Peers } from './harness';

const KIB = 1024;
const GRPC_DEFAULT_LIMIT = 4 * 1024 * 1024;

/** API.md v1.1 "Edges": no answer exceeds 4 MiB; lists carry 1,024-byte previews. */
describe('answer sizes: PullMessages by size, previews in heads', () => {
  let env: TestEnvironment;
  let peers: Peers;
  let svc: MessageInstance;

  const suite = useMessageSuite('message-sizes');
  before(async () => {
    ({ env, peers, svc } = await suite.start());
  });

  const pair = () => {
    const [a, b] = [uniqueId('za'), uniqueId('zb')].sort() as [string, string];
    peers.data.users.add(a).add(b);
    return { a, b, cid: `si_${a}_${b}` };
  };

  it('PullMessages with limit 200 of 64 KiB messages answers a default client under 4 MiB, and the caller continues', async () => {
    const { a, b, cid } = pair();
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          svc.client.sendMessage(
            textSend(a, b, { content: Buffer.alloc(64 * KIB, String((i + j) % 10)) }),
          ),
        ),
      );
    }
    // The test client is a default one: it could not receive more than 4 MiB.
    const got: number[] = [];
    let begin = 1;
    let calls = 0;
    while (begin <= 200) {
      const { messages, maxSeq } = await svc.client.pullMessages({
        userId: a,
        conversationId: cid,
        beginSeq: begin,
        endSeq: 0,
        limit: 200,
        descending: false,
      });
      calls++;
      expect(maxSeq).to.equal(200);
      expect(messages.length).to.be.greaterThan(0).and.lessThan(200);
      const bytes = messages.reduce((n, m) => n + m.content.length, 0);
      expect(bytes).to.be.lessThan(GRPC_DEFAULT_LIMIT);
      // Full content, never a preview.
      for (const m of messages) expect(m.content.length).to.equal(64 * KIB);
      got.push(...messages.map((m) => m.seq));
      begin = messages[messages.length - 1]!.seq + 1;
    }
    expect(got).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(calls).to.be.within(4, 5);

    const newest = await svc.client.pullMessages({
      userId: b,
      conversationId: cid,
      beginSeq: 0,
      endSeq: 0,
      limit: 200,
      descending: true,
    });
    expect(newest.messages[0]!.seq).to.equal(200);
    expect(newest.messages.length).to.be.within(50, 63);
    const seqs = newest.messages.map((m) => m.seq);
    expect(seqs).to.deep.equal(seqs.map((_, i) => 200 - i));
  });

  it('heads carry a 1,024-byte preview cut at a UTF-8 boundary, from the cache and from MySQL alike', async () => {
    const { a, b, cid } = pair();
    // 1,023 ASCII bytes, then 3-byte characters: byte 1,024 falls inside one.
    const text = 'x'.repeat(1023) + '€'.repeat(100);
    await svc.client.sendMessage(textSend(a, b, { content: Buffer.from(text) }));
    const image = pair();
    const binary = Buffer.alloc(5000, 0xe2);
    await svc.client.sendMessage(
      textSend(image.a, image.b, { contentType: ContentType.CONTENT_TYPE_IMAGE, content: binary }),
    );
    const short = pair();
    await svc.client.sendMessage(textSend(short.a, short.b, { content: Buffer.from('hi') }));

    const check = async () => {
      const { heads } = await svc.client.getConversationHeads({
        conversationIds: [cid, image.cid, short.cid],
        maxSeqOnlyIds: [],
      });
      const [t, i, s] = heads;
      expect(t!.lastMessageTruncated).to.equal(true);
      expect(t!.lastMessage!.content.toString()).to.equal('x'.repeat(1023));
      expect(i!.lastMessageTruncated).to.equal(true);
      expect(i!.lastMessage!.content).to.deep.equal(binary.subarray(0, PREVIEW_BYTES));
      expect(s!.lastMessageTruncated).to.equal(false);
      expect(s!.lastMessage!.content.toString()).to.equal('hi');
    };
    await check(); // filled by the sends
    await deleteRedisPrefix(env.redisPrefix);
    await check(); // from MySQL
    await check(); // filled by that read
    // The full content is where it always was.
    const { messages } = await svc.client.pullMessages({
      userId: a,
      conversationId: cid,
      beginSeq: 0,
      endSeq: 0,
      limit: 0,
      descending: false,
    });
    expect(messages[0]!.content.toString()).to.equal(text);
  });

  it('1,000 heads of large messages make a small answer (1,000 previews)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 1000; i += 50) {
      const batch = Array.from({ length: 50 }, () => pair());
      await Promise.all(
        batch.map((p) =>
          svc.client.sendMessage(textSend(p.a, p.b, { content: Buffer.alloc(8 * KIB, 'y') })),
        ),
      );
      ids.push(...batch.map((p) => p.cid));
    }
    const { heads } = await svc.client.getConversationHeads({
      conversationIds: ids,
      maxSeqOnlyIds: [],
    });
    expect(heads).to.have.length(1000);
    const bytes = heads.reduce((n, h) => n + h.lastMessage!.content.length, 0);
    expect(bytes).to.equal(1000 * PREVIEW_BYTES);
  });

  it('GetConversationHeadsAt answers a conversation as of a seq, clamped to the current max_seq', async () => {
    const { a, b, cid } = pair();
    for (let i = 1; i <= 3; i++) {
      await svc.client.sendMessage(textSend(a, b, { content: Buffer.from(`m${i}`) }));
    }
    const { heads } = await svc.client.getConversationHeadsAt({
      headsAt: [
        { conversationId: cid, seq: 2 },
        { conversationId: `si_${uniqueId('q')}_${uniqueId('r')}`, seq: 5 },
      ],
    });
    expect(heads).to.have.length(1);
    expect(heads[0]).to.deep.include({ conversationId: cid, maxSeq: 2 });
    expect(heads[0]!.lastMessage!.content.toString()).to.equal('m2');
    const above = await svc.client.getConversationHeadsAt({
      headsAt: [{ conversationId: cid, seq: 99 }],
    });
    expect(above.heads[0]!.maxSeq).to.equal(3);
  });
});
