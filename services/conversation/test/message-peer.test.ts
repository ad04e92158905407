import { expect } from 'chai';
import { createMessageServiceClient } from '@im-repo/proto/message';
import { MessagePeer } from '../src/message.peer';
import { MessageStandIn } from './message-stand-in';

describe('MessagePeer', () => {
  let messages: MessageStandIn;
  let client: ReturnType<typeof createMessageServiceClient>;

  before(async () => {
    messages = await MessageStandIn.start();
    client = createMessageServiceClient(messages.address);
  });
  after(async () => {
    client.close();
    await messages.stop();
  });

  it('asks heads and max_seqs in one call, chunking max-seq-only ids beyond the cap', async () => {
    const r1 = messages.send('p1', 'single', 'p2');
    messages.send('p1', 'single', 'p2');
    const others = Array.from({ length: 8 }, (_, i) => messages.send(`o${i}`, 'group', `g${i}`));
    const peer = new MessagePeer(client, 3);
    const before = messages.headsCalls;
    const answer = await peer.heads(
      [r1.conversationId, 'sg_unknown'],
      [...others.map((o) => o.conversationId), 'sg_none'],
    );
    const requests = messages.headsRequests.slice(before);
    expect(requests.map((r) => r.conversationIds.length)).to.have.members([2, 0, 0]);
    expect(requests.map((r) => r.maxSeqOnlyIds.length)).to.have.members([3, 3, 3]);
    expect(answer.heads.get(r1.conversationId)!.maxSeq).to.equal(2);
    expect(answer.heads.get(r1.conversationId)!.lastMessage!.seq).to.equal(2);
    expect(answer.heads.has('sg_unknown')).to.equal(false);
    expect(answer.maxSeqs.size).to.equal(9);
    expect(answer.maxSeqs.get('sg_none')).to.equal(0);
    expect(answer.maxSeqs.get(others[0]!.conversationId)).to.equal(1);
  });

  it('asks nothing when there is nothing to ask', async () => {
    const before = messages.headsCalls;
    const answer = await new MessagePeer(client).heads([], []);
    expect(answer.heads.size + answer.maxSeqs.size).to.equal(0);
    expect(messages.headsCalls).to.equal(before);
  });
});
