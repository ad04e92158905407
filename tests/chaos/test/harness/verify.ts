import { decodeGrpcError } from '@im-repo/testing';
import { retrying, type Clients, type Ledger } from './load';
import { sleep, step } from './process';

export interface Verdict {
  stored: number;
  /** Acknowledged keys not stored at their acknowledged seq. */
  lost: string[];
  gaps: string[];
  duplicates: string[];
  /** Resends of acknowledged messages that did not answer duplicate = true at the same seq. */
  badResends: string[];
  /** Heads or max_seqs that disagree with what PullMessages reads. */
  disagreements: string[];
  /** Conversation rows still behind max_seq at the bound. */
  unconverged: string[];
  convergeSeconds: number;
  /** How long until every acknowledged seq was within max_seq (head cache lag). */
  visibleSeconds: number;
}

/**
 * Checks the whole store through the public API only. Stored messages are immutable, so each
 * conversation is read once up to where it was verified before and only the new tail after.
 */
export class Verifier {
  private readonly verifiedUpTo = new Map<string, number>();
  /** (sender, client_msg_id) -> where it is stored. */
  readonly stored = new Map<string, { conversationId: string; seq: number }>();
  /** conversation|seq -> who is stored there (names what took a lost message's place). */
  private readonly bySeq = new Map<string, string>();

  constructor(
    private readonly clients: Clients,
    private readonly ledger: Ledger,
  ) {}

  async verify(options: { resendSample: number; convergeBoundMs: number }): Promise<Verdict> {
    const verdict: Verdict = {
      stored: 0,
      lost: [],
      gaps: [],
      duplicates: [],
      badResends: [],
      disagreements: [],
      unconverged: [],
      convergeSeconds: 0,
      visibleSeconds: 0,
    };
    const ids = [...this.ledger.conversations.keys()];
    // Read-your-writes: every acknowledged seq must become visible. A head whose advance Redis
    // timed out is retried by the service, so it may lag briefly; it must not stay behind.
    const ackedMax = new Map<string, number>();
    for (const ack of this.ledger.acks.values()) {
      ackedMax.set(ack.conversationId, Math.max(ackedMax.get(ack.conversationId) ?? 0, ack.seq));
    }
    const visibleFrom = Date.now();
    let maxSeqs: Record<string, number>;
    for (;;) {
      ({ maxSeqs } = await retrying('GetMaxSeqs', () =>
        this.clients.message.getMaxSeqs({ conversationIds: ids }),
      ));
      const behind = [...ackedMax].filter(([id, seq]) => (maxSeqs[id] ?? 0) < seq);
      if (behind.length === 0 || Date.now() - visibleFrom > options.convergeBoundMs) break;
      await sleep(200);
    }
    verdict.visibleSeconds = (Date.now() - visibleFrom) / 1000;
    const { heads } = await retrying('GetConversationHeads', () =>
      this.clients.message.getConversationHeads({ conversationIds: ids, maxSeqOnlyIds: [] }),
    );
    const headOf = new Map(heads.map((h) => [h.conversationId, h]));

    for (const id of ids) {
      const max = maxSeqs[id] ?? 0;
      const head = headOf.get(id);
      if (head?.maxSeq !== max || head.lastMessage?.seq !== max) {
        verdict.disagreements.push(
          `${id}: GetMaxSeqs ${max}, head ${head?.maxSeq}/${head?.lastMessage?.seq}`,
        );
      }
      const reader = [...this.ledger.conversations.get(id)!][0]!;
      let next = (this.verifiedUpTo.get(id) ?? 0) + 1;
      if (next - 1 > max) verdict.gaps.push(`${id}: max_seq ${max} below verified ${next - 1}`);
      while (next <= max) {
        const { messages, maxSeq } = await retrying('PullMessages', () =>
          this.clients.message.pullMessages({
            userId: reader,
            conversationId: id,
            beginSeq: next,
            endSeq: max,
            limit: 200,
            descending: false,
          }),
        );
        if (maxSeq !== max) verdict.disagreements.push(`${id}: Pull max_seq ${maxSeq} vs ${max}`);
        if (messages.length === 0) {
          verdict.gaps.push(`${id}: nothing readable from ${next} to ${max}`);
          break;
        }
        for (const m of messages) {
          if (m.seq !== next) {
            verdict.gaps.push(`${id}: expected seq ${next}, read ${m.seq}`);
            if (m.seq < next) continue;
          }
          const key = `${m.senderId}|${m.clientMsgId}`;
          const before = this.stored.get(key);
          if (before) verdict.duplicates.push(`${key} at ${before.seq} and ${m.seq}`);
          else this.stored.set(key, { conversationId: id, seq: m.seq });
          this.bySeq.set(`${id}|${m.seq}`, `${key} sent ${m.sentAt?.toISOString()}`);
          verdict.stored++;
          next = m.seq + 1;
        }
      }
      this.verifiedUpTo.set(id, Math.max(max, next - 1));
    }

    for (const [key, ack] of this.ledger.acks) {
      const at = this.stored.get(key);
      if (!at || at.seq !== ack.seq || at.conversationId !== ack.conversationId) {
        verdict.lost.push(
          `${key}: acknowledged ${ack.conversationId} ${ack.seq} at ${ack.at}, stored ${at?.seq ?? 'nowhere'}` +
            ` (that seq holds ${this.bySeq.get(`${ack.conversationId}|${ack.seq}`)})`,
        );
      }
    }
    for (const c of this.ledger.conflicts) verdict.lost.push(`conflicting acks ${c}`);

    step(`checked ${ids.length} conversations, ${verdict.stored} new messages`);
    await this.resend(options.resendSample, verdict);
    await this.converge(maxSeqs, options.convergeBoundMs, verdict);
    return verdict;
  }

  private async resend(sample: number, verdict: Verdict): Promise<void> {
    const acks = [...this.ledger.acks.values()];
    for (let i = 0; i < Math.min(sample, acks.length); i++) {
      const ack = acks[Math.floor(Math.random() * acks.length)]!;
      const res = await retrying('resend', () =>
        this.clients.message.sendMessage(ack.request),
      ).catch((err: unknown) => decodeGrpcError(err).message);
      if (typeof res === 'string' || !res.duplicate || res.message?.seq !== ack.seq) {
        verdict.badResends.push(
          `${ack.request.senderId}|${ack.request.clientMsgId}: ${
            typeof res === 'string' ? res : `duplicate=${res.duplicate} seq=${res.message?.seq}`
          } (acknowledged ${ack.seq})`,
        );
      }
    }
  }

  /** Waits until every participant's conversation row shows max_seq; times it. */
  private async converge(
    maxSeqs: Record<string, number>,
    boundMs: number,
    verdict: Verdict,
  ): Promise<void> {
    const started = Date.now();
    let behind: string[] = [];
    const pending = new Map(
      [...this.ledger.conversations].flatMap(([id, people]) =>
        [...people].map((u) => [`${u}|${id}`, { u, id }] as const),
      ),
    );
    while (pending.size > 0) {
      behind = [];
      await Promise.all(
        [...pending].map(async ([key, { u, id }]) => {
          try {
            const { conversation } = await this.clients.conversation.getConversation({
              userId: u,
              conversationId: id,
            });
            if (conversation && conversation.maxSeq >= (maxSeqs[id] ?? 0)) pending.delete(key);
            else behind.push(`${key}: ${conversation?.maxSeq} < ${maxSeqs[id]}`);
          } catch (err) {
            behind.push(`${key}: ${decodeGrpcError(err).codeName}`);
          }
        }),
      );
      if (pending.size === 0) break;
      if (Date.now() - started > boundMs) {
        verdict.unconverged = behind;
        break;
      }
      await sleep(200);
    }
    verdict.convergeSeconds = (Date.now() - started) / 1000;
  }
}
