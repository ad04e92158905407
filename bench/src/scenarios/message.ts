import { singleConversationId, groupConversationId } from '@im-repo/proto';
import {
  ContentType,
  ConversationType,
  PullMessagesRequest,
  SendMessageRequest,
} from '@im-repo/proto/message';
import { RawPool } from '../clients';
import {
  fmt,
  mark,
  ratio,
  type BenchContext,
  type Prepared,
  type Result,
  type Scenario,
} from '../scenario';

const SEND = '/im.message.v1.MessageService/SendMessage';
const CONTENT = Buffer.from('The quick brown fox jumps over the lazy dog. 你好，世界！');

const encodeSend = (
  senderId: string,
  type: ConversationType,
  recipientId: string,
  clientMsgId: string,
) =>
  Buffer.from(
    SendMessageRequest.encode({
      clientMsgId,
      senderId,
      conversationType: type,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: CONTENT,
    }).finish(),
  );

/** Sum and count of a histogram in a service's /metrics text. */
async function histogram(url: string | undefined, name: string) {
  if (!url) return { sum: 0, count: 0 };
  const text = await (await fetch(url)).text();
  const value = (suffix: string) =>
    Number(
      new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  return { sum: value('sum'), count: value('count') };
}

/** Mean messages per commit while fn ran, from the message service's own histogram. */
export async function meanBatch(ctx: BenchContext, before: { sum: number; count: number }) {
  const after = await histogram(ctx.stack.metricsUrls.message, 'message_send_batch_size');
  const count = after.count - before.count;
  return count > 0 ? (after.sum - before.sum) / count : 0;
}

export const batchCounter = (ctx: BenchContext) =>
  histogram(ctx.stack.metricsUrls.message, 'message_send_batch_size');

/** Checks that a conversation holds exactly seqs 1..max_seq (pulled in pages of 200). */
async function verifyGapless(
  ctx: BenchContext,
  conversationId: string,
  reader: string,
  expected?: number,
) {
  const { maxSeqs } = await ctx.fixtures.message.getMaxSeqs({ conversationIds: [conversationId] });
  const max = maxSeqs[conversationId] ?? 0;
  let next = 1;
  while (next <= max) {
    const { messages } = await ctx.fixtures.message.pullMessages({
      userId: reader,
      conversationId,
      beginSeq: next,
      endSeq: 0,
      limit: 200,
      descending: false,
    });
    for (const m of messages) {
      if (m.seq !== next) return `seq ${next} missing in ${conversationId} (got ${m.seq})`;
      next++;
    }
    if (messages.length === 0) return `seqs stop at ${next - 1} of ${max}`;
  }
  if (expected !== undefined && max !== expected)
    return `max_seq ${max} but ${expected} sends were accepted`;
  return undefined;
}

let runCounter = 0;

export const send: Scenario = {
  name: 'send',
  what: 'SendMessage, 1,000 single conversations round-robin, c=64',
  concurrency: 64,
  unit: 'calls',
  services: ['message', 'user', 'conversation'],
  needs: ['ceiling', 'raw-txn'],
  async prepare(ctx) {
    const users = await ctx.fixtures.usersAtLeast(1001);
    const pool = new RawPool(ctx.stack.addresses.message, ctx.channels);
    const run = `s${runCounter++}-${Date.now().toString(36)}`;
    let accepted = 0;
    const batches = await batchCounter(ctx);
    return {
      op: async (w, i) => {
        const k = (w * 1_000_003 + i) % 1000;
        const sender = users[k]!;
        await pool.call(
          w,
          SEND,
          encodeSend(
            sender,
            ConversationType.CONVERSATION_TYPE_SINGLE,
            users[k + 1]!,
            `${run}-${w}-${i}`,
          ),
        );
        accepted++;
      },
      verify: async () => {
        const problems = await Promise.all(
          [0, 500, 999].map((k) =>
            verifyGapless(ctx, singleConversationId(users[k]!, users[k + 1]!), users[k]!),
          ),
        );
        const mean = (await meanBatch(ctx, batches)).toFixed(1);
        return (
          problems.find(Boolean) ??
          `gapless (3 conversations checked; ${accepted} accepted; ${mean} messages per commit)`
        );
      },
      cleanup: async () => pool.close(),
    };
  },
  targets(r, others) {
    const c = others.get('ceiling');
    const raw = others.get('raw-txn');
    const marks = [mark('p99 <= 50 ms', r.p99 <= 50, `${fmt(r.p99, 1)} ms`)];
    if (c) {
      marks.push(
        mark(
          '>= 0.5 x ceiling',
          r.throughput >= 0.5 * c.throughput,
          `${fmt(ratio(r.throughput, c.throughput))} x`,
        ),
      );
      marks.push(
        mark(
          'CPU/op <= 4 x ceiling',
          r.cpuUsPerUnit <= 4 * c.cpuUsPerUnit,
          `${fmt(ratio(r.cpuUsPerUnit, c.cpuUsPerUnit))} x`,
        ),
      );
    }
    if (raw)
      marks.push(
        mark(
          '>= 2 x raw-txn',
          r.throughput >= 2 * raw.throughput,
          `${fmt(ratio(r.throughput, raw.throughput))} x`,
        ),
      );
    return marks;
  },
};

async function groupSend(ctx: BenchContext, size: number, label: string): Promise<Prepared> {
  const { groupId, members } = await ctx.fixtures.groupOf(size, `${label}${runCounter++}`);
  const senders = members.slice(0, Math.min(64, members.length));
  const pool = new RawPool(ctx.stack.addresses.message, ctx.channels);
  let accepted = 0;
  const batches = await batchCounter(ctx);
  return {
    op: async (w, i) => {
      const sender = senders[w % senders.length]!;
      await pool.call(
        w,
        SEND,
        encodeSend(sender, ConversationType.CONVERSATION_TYPE_GROUP, groupId, `${label}-${w}-${i}`),
      );
      accepted++;
    },
    verify: async () =>
      (await verifyGapless(ctx, groupConversationId(groupId), members[0]!, accepted)) ??
      `gapless: seqs 1..${accepted} all readable; ${(await meanBatch(ctx, batches)).toFixed(1)} messages per commit`,
    cleanup: async () => pool.close(),
  };
}

export const sendHotGroup: Scenario = {
  name: 'send-hot-group',
  what: 'one group of 1,000 members, 64 concurrent senders',
  concurrency: 64,
  unit: 'calls',
  services: ['message', 'group', 'conversation'],
  needs: ['ceiling'],
  prepare: (ctx) => groupSend(ctx, 1000, 'hot'),
  targets(r, others) {
    const c = others.get('ceiling');
    const marks = [
      mark(
        'seqs gapless after',
        Boolean(r.verified?.startsWith('gapless')),
        r.verified ?? 'not verified',
      ),
    ];
    if (c)
      marks.push(
        mark(
          '>= 0.4 x ceiling',
          r.throughput >= 0.4 * c.throughput,
          `${fmt(ratio(r.throughput, c.throughput))} x`,
        ),
      );
    return marks;
  },
};

export const sendGroupSize: Scenario = {
  name: 'send-group-size',
  what: 'send into a 2-member vs a 5,000-member group (c=64 each)',
  concurrency: 64,
  unit: 'calls',
  services: ['message', 'group', 'conversation'],
  async prepare(ctx) {
    return groupSend(ctx, 2, 'small');
  },
  async run(ctx, measure) {
    const small = await measure(await groupSend(ctx, 2, 'small'));
    const large = await measure(await groupSend(ctx, 5000, 'large'));
    const combined: Result = {
      ...large,
      notes: {
        'throughput 2 members': Math.round(small.throughput),
        'throughput 5,000 members': Math.round(large.throughput),
        'ratio large/small': Number(fmt(ratio(large.throughput, small.throughput))),
        'cpu us/op 2 members': Math.round(small.cpuUsPerUnit),
        'cpu us/op 5,000 members': Math.round(large.cpuUsPerUnit),
      },
      verified: [small.verified, large.verified].join('; '),
    };
    return combined;
  },
  targets(r) {
    const ratioValue = Number(r.notes?.['ratio large/small'] ?? 0);
    return [mark('throughput ratio >= 0.9', ratioValue >= 0.9, `${fmt(ratioValue)}`)];
  },
};

export const pull: Scenario = {
  name: 'pull',
  what: 'PullMessages, 50 per page, random pages of a 2,000-message conversation, c=32',
  concurrency: 32,
  unit: 'messages',
  services: ['message', 'user'],
  async prepare(ctx) {
    const [a, b] = await ctx.fixtures.usersAtLeast(2);
    const conversationId = singleConversationId(a!, b!);
    const tag = `pull${runCounter++}`;
    const have =
      (await ctx.fixtures.message.getMaxSeqs({ conversationIds: [conversationId] })).maxSeqs[
        conversationId
      ] ?? 0;
    const sends = Array.from({ length: Math.max(0, 2000 - have) }, (_, i) => i);
    for (let i = 0; i < sends.length; i += 64) {
      await Promise.all(
        sends
          .slice(i, i + 64)
          .map((k) =>
            ctx.fixtures.send(a!, ConversationType.CONVERSATION_TYPE_SINGLE, b!, `${tag}-${k}`),
          ),
      );
    }
    const requests = Array.from({ length: 39 }, (_, page) =>
      Buffer.from(
        PullMessagesRequest.encode({
          userId: b!,
          conversationId,
          beginSeq: page * 50 + 1,
          endSeq: 0,
          limit: 50,
          descending: false,
        }).finish(),
      ),
    );
    const pool = new RawPool(ctx.stack.addresses.message, ctx.channels);
    return {
      op: async (w, i) => {
        await pool.call(
          w,
          '/im.message.v1.MessageService/PullMessages',
          requests[(w * 13 + i) % requests.length]!,
        );
        return 50;
      },
      cleanup: async () => pool.close(),
    };
  },
  targets: (r) => [
    mark('>= 30,000 messages/s', r.throughput >= 30_000, `${Math.round(r.throughput)} msg/s`),
  ],
};
