import type { PeerClient } from '@im-repo/server-kit';
import type { ConversationHead } from './conversation.types';

/** The message service's caps (API.md and the max_seq_only_ids comment in message.proto). */
export const MAX_HEAD_IDS = 1000;
export const MAX_SEQ_ONLY_IDS = 10_000;

export interface HeadsAnswer {
  /** Heads of the asked conversations that have messages. */
  heads: Map<string, ConversationHead>;
  /** max_seq of every max-seq-only id (0 when the conversation has no messages). */
  maxSeqs: Map<string, number>;
}

/**
 * The conversation service's view of the message service: batched reads of max_seq and last
 * messages, with the client's deadline. Built on a peer client (server-kit createPeerClient), so
 * its failures are already relayed by the one rule: a message service that is down or slow is
 * UNAVAILABLE for our caller, any other answer keeps its code and reason.
 */
export class MessagePeer {
  constructor(
    private readonly client: PeerClient<'message'>,
    private readonly maxSeqOnlyChunk = MAX_SEQ_ONLY_IDS,
  ) {}

  /**
   * Heads of headIds plus max_seq of maxSeqOnlyIds: ONE call unless maxSeqOnlyIds exceeds the
   * per-call cap (then one call per further chunk, in parallel).
   */
  async heads(headIds: string[], maxSeqOnlyIds: string[]): Promise<HeadsAnswer> {
    if (headIds.length > MAX_HEAD_IDS) throw new Error(`at most ${MAX_HEAD_IDS} heads per call`);
    const answer: HeadsAnswer = { heads: new Map(), maxSeqs: new Map() };
    if (headIds.length === 0 && maxSeqOnlyIds.length === 0) return answer;
    const calls: { conversationIds: string[]; maxSeqOnlyIds: string[] }[] = [];
    for (let i = 0; i === 0 || i < maxSeqOnlyIds.length; i += this.maxSeqOnlyChunk) {
      calls.push({
        conversationIds: i === 0 ? headIds : [],
        maxSeqOnlyIds: maxSeqOnlyIds.slice(i, i + this.maxSeqOnlyChunk),
      });
    }
    const responses = await Promise.all(
      calls.map((request) => this.client.getConversationHeads(request)),
    );
    for (const response of responses) {
      for (const head of response.heads) {
        answer.heads.set(head.conversationId, {
          maxSeq: head.maxSeq,
          ...(head.lastMessage ? { lastMessage: head.lastMessage } : {}),
        });
      }
      for (const [id, seq] of Object.entries(response.maxSeqs)) answer.maxSeqs.set(id, seq);
    }
    return answer;
  }

  async head(conversationId: string): Promise<ConversationHead> {
    const { heads } = await this.heads([conversationId], []);
    return heads.get(conversationId) ?? { maxSeq: 0 };
  }

  /** The authoritative current max_seq of one conversation (0 when it has no messages). */
  async maxSeq(conversationId: string): Promise<number> {
    const { maxSeqs } = await this.client.getMaxSeqs({ conversationIds: [conversationId] });
    return maxSeqs[conversationId] ?? 0;
  }
}
