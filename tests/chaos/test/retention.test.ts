import { get } from 'node:http';
import {
  ContentType,
  ConversationType,
  MessageStatus,
  type Message,
  type SendMessageRequest,
} from '@im-repo/proto/message';
import { waitFor } from '@im-repo/testing';
import { expect } from 'chai';
import { Cluster } from './harness/cluster';
import { closeClients, makeClients, registerUsers, retrying, type Clients } from './harness/load';
import { sleep, step } from './harness/process';

/**
 * Scenario 10 runs on its own cluster: with retention on, the other scenarios' check that every
 * acknowledged message stays readable would not hold.
 */
const WINDOW_S = 15;
/** Messages sent in one burst, so that they cross the window together: a long retention pass. */
const BACKLOG = 4000;
const BURST_CONCURRENCY = 40;
/** Seqs the victim has expired when it is killed: well into the backlog's wave. */
const KILL_AFTER = 400;
/** Expiry is due within 10 s of the window; asserted 10 times looser. */
const EXPIRY_BOUND_MS = 100_000;
/** A message and its content, as acknowledged. */
interface Sent {
  request: SendMessageRequest;
  message: Message;
}

/** message_expired_total of one replica (0 before its first pass). */
function expiredTotal(metricsPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith('message_expired_total '));
        resolve(line ? Number(line.split(' ')[1]) : 0);
      });
    }).on('error', reject);
  });
}

describe('chaos 10: retention on (its own cluster)', function () {
  let cluster: Cluster;
  let clients: Clients;
  let pairs: [string, string][] = [];

  before(async function () {
    this.timeout(300_000);
    cluster = await Cluster.start({ MESSAGE_RETENTION_SECONDS: String(WINDOW_S) });
    clients = makeClients(cluster);
    const users = await registerUsers(clients, `r${Date.now().toString(36)}`, 8);
    pairs = [0, 2, 4, 6].map((i) => [users[i]!, users[i + 1]!]);
    step(`retention cluster up (window ${WINDOW_S} s)`);
  });

  after(async function () {
    this.timeout(60_000);
    if (clients) closeClients(clients);
    await cluster?.stop();
  });

  it('10. kill -9 of a message replica in the middle of a retention pass', async function () {
    this.timeout(600_000);
    const sent: Sent[] = [];
    let n = 0;
    let retried = 0;
    let killedAt: number | undefined;
    let resumedIn: number | undefined;
    const tag = `k${Date.now().toString(36)}`;
    /** A send retried with its client_msg_id until acknowledged, as a real client does. */
    const send = async (k: number) => {
      const [a, b] = pairs[k % pairs.length]!;
      const clientMsgId = `${tag}-${n++}`;
      const request: SendMessageRequest = {
        clientMsgId,
        senderId: k % 2 ? a : b,
        conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
        recipientId: k % 2 ? b : a,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        // 2 KiB, so each retention batch erases a real amount of content.
        content: Buffer.from(clientMsgId.padEnd(2048, '.')),
      };
      let attempts = 0;
      const { message } = await retrying('send', () => {
        attempts++;
        return clients.message.sendMessage(request);
      });
      if (attempts > 1) retried++;
      sent.push({ request, message: message! });
    };

    // A trickle that runs through the whole scenario: sends racing the job and the kill.
    let trickling = true;
    const trickle = (async () => {
      for (let k = 0; trickling; k++) {
        await send(k);
        await sleep(50);
      }
    })();

    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: BURST_CONCURRENCY }, async () => {
          for (let k = next++; k < BACKLOG; k = next++) await send(k);
        }),
      );
      const backlogEnd = Math.max(...sent.map((s) => s.message.sentAt!.getTime()));
      step(`10: backlog of ${BACKLOG} sent; waiting for the retention pass to start`);

      // Kill the replica while it works through the backlog: its counter has just moved past
      // what the trickle alone could expire, and a pass goes straight on to its next batch
      // (up to 200 seqs of a few conversations, one transaction) while work is left.
      const victim = cluster.replicas.message[1]!;
      const beforeKill = await waitFor(
        async () => {
          const total = await expiredTotal(victim.metricsPort);
          return total >= KILL_AFTER && total;
        },
        {
          timeoutMs: WINDOW_S * 1000 + EXPIRY_BOUND_MS,
          intervalMs: 10,
          what: 'the retention pass to reach the backlog',
        },
      );
      await victim.proc!.kill();
      killedAt = Date.now();
      step(`10: kill -9 of ${victim.name} after it expired ${beforeKill} seqs`);
      await sleep(3000);
      await victim.start();
      step(`10: ${victim.name} restarted`);

      // The job resumes (on any replica): every backlog message goes out of reads.
      const backlogMax = new Map<string, number>();
      for (const s of sent) {
        if (s.message.sentAt!.getTime() <= backlogEnd) {
          const id = s.message.conversationId;
          backlogMax.set(id, Math.max(backlogMax.get(id) ?? 0, s.message.seq));
        }
      }
      const pull = (userId: string, conversationId: string, beginSeq: number) =>
        clients.message.pullMessages({
          userId,
          conversationId,
          beginSeq,
          endSeq: 0,
          limit: 200,
          descending: false,
        });
      const pairOf = (conversationId: string) =>
        pairs.find(([a, b]) => conversationId.includes(a) && conversationId.includes(b))!;
      await waitFor(
        async () => {
          for (const [id, max] of backlogMax) {
            const r = await pull(pairOf(id)[0], id, 0);
            if (r.minSeq <= max) return false;
          }
          return true;
        },
        { timeoutMs: EXPIRY_BOUND_MS, intervalMs: 500, what: 'the backlog to expire' },
      );
      resumedIn = (Date.now() - killedAt!) / 1000;
      step(`10: backlog expired ${resumedIn.toFixed(1)} s after the kill; checking what remains`);
    } finally {
      trickling = false;
      await trickle;
    }

    // Every conversation: what remains is exactly min_seq..max_seq, each with its content;
    // everything sent inside the window is among it; seqs cover 1..max_seq exactly once.
    const byConversation = new Map<string, Sent[]>();
    for (const s of sent) {
      const list = byConversation.get(s.message.conversationId) ?? [];
      list.push(s);
      byConversation.set(s.message.conversationId, list);
    }
    let remaining = 0;
    for (const [id, list] of byConversation) {
      const [reader] = pairs.find(([a, b]) => id.includes(a) && id.includes(b))!;
      const seqs = list.map((s) => s.message.seq).sort((x, y) => x - y);
      expect(seqs, `${id}: acknowledged seqs`).to.deep.equal(seqs.map((_, i) => i + 1));
      const read: Message[] = [];
      let first = await clients.message.pullMessages({
        userId: reader,
        conversationId: id,
        beginSeq: 0,
        endSeq: 0,
        limit: 200,
        descending: false,
      });
      const { minSeq, maxSeq } = first;
      expect(maxSeq, `${id}: max_seq`).to.equal(seqs.length);
      for (;;) {
        read.push(...first.messages);
        if (first.messages.length === 0 || read[read.length - 1]!.seq >= maxSeq) break;
        first = await clients.message.pullMessages({
          userId: reader,
          conversationId: id,
          beginSeq: read[read.length - 1]!.seq + 1,
          endSeq: maxSeq,
          limit: 200,
          descending: false,
        });
      }
      // Gapless: the job expired a prefix, whatever the kill interrupted.
      const readSeqs = read.map((m) => m.seq);
      expect(readSeqs[0] ?? maxSeq + 1, `${id}: first readable`).to.equal(minSeq);
      expect(readSeqs, `${id}: readable seqs`).to.deep.equal(
        Array.from({ length: maxSeq - minSeq + 1 }, (_, i) => minSeq + i),
      );
      const pulledAt = Date.now();
      remaining += read.length;
      // Nothing unexpired lost: a message missing from the reads crossed the window before the
      // reads ended (one host, one clock); every one that is there has its content.
      const bySeq = new Map(read.map((m) => [m.seq, m]));
      for (const s of list) {
        const got = bySeq.get(s.message.seq);
        if (got) expect(got, `${id} seq ${s.message.seq}`).to.deep.equal(s.message);
        else {
          expect(s.message.sentAt!.getTime(), `${id} seq ${s.message.seq} gone`).to.be.below(
            pulledAt - WINDOW_S * 1000,
          );
        }
      }
      // The head agrees: max_seq, and no expired last message.
      const { heads } = await clients.message.getConversationHeads({
        conversationIds: [id],
        maxSeqOnlyIds: [],
      });
      expect(heads[0]!.maxSeq).to.equal(maxSeq);
      if (heads[0]!.lastMessage) expect(heads[0]!.lastMessage.seq).to.equal(maxSeq);
    }
    expect(remaining, 'messages still inside the window').to.be.above(0);

    // Idempotency outlives retention, on both replicas (round robin).
    const expired = sent.slice(0, 20);
    for (const s of expired) {
      const repeat = await clients.message.sendMessage(s.request);
      expect(repeat).to.deep.equal({
        duplicate: true,
        message: {
          ...s.message,
          status: MessageStatus.MESSAGE_STATUS_EXPIRED,
          content: Buffer.alloc(0),
        },
      });
    }
    const line =
      `chaos 10 kill-9-mid-retention: acknowledged=${sent.length} retried=${retried}` +
      ` remaining=${remaining} expired=${sent.length - remaining}` +
      ` backlog_expired_after_kill=${resumedIn!.toFixed(1)}s`;
    process.stdout.write(`      ${line}\n`);
  });
});
