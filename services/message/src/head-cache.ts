import { randomBytes } from 'node:crypto';
import { cacheCounter, redisScript, type RedisClient } from '@im-repo/cache';
import type { Counter, Registry } from 'prom-client';
import { headKey } from './message.cache-keys';
import { previewOf } from './preview';
import type { ConversationHead, MessageRecord } from './message.types';

/*
 * The head cache: per conversation a hash of s (max_seq), st (status of the message at s: 0 =
 * not cached, 1 normal, 2 recalled) and m (that message). It is only written with states that
 * MySQL has committed, and only forwards: (s, st) grows lexicographically, so it never runs ahead
 * of MySQL and never goes back.
 *
 * A flushed or expired key is the hard part: a value computed before the flush (a slow fill, a
 * late post-commit advance) must not land in the empty key after readers already saw newer. So
 * only a reader creates a key: it leaves a fill token (t) in it, reads MySQL, and fills only if
 * its token is still there. An advance that finds a token raises the floor (fs, fst) the fill
 * must reach, so a fill read before a commit that returned to its sender cannot land below it.
 */

const NEWER = `
local function newer(seq, st, cs, cst)
  return seq > cs or (seq == cs and st > cst)
end`;

// KEYS: one head key per conversation; ARGV: want message (1/0), new token, token ttl ms.
// -> per key {1, s, st, m?} cached, or {0, token} to fill. A standalone Redis takes every key of
// a request in one call (a script call costs Redis far more than the reads it makes); Redis
// Cluster gets one call per key, auto-pipelined per node.
const READ = `
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 's', 'st', 't')
  if v[1] then
    if ARGV[1] == '1' and tonumber(v[2]) > 0 then
      out[i] = {1, v[1], v[2], redis.call('HGET', key, 'm')}
    else
      out[i] = {1, v[1], v[2]}
    end
  elseif v[3] then
    out[i] = {0, v[3]}
  else
    redis.call('HSET', key, 't', ARGV[2])
    redis.call('PEXPIRE', key, ARGV[3])
    out[i] = {0, ARGV[2]}
  end
end
return out`;

// KEYS[1]; ARGV: seq, st, message, ttl ms. After a commit (send or recall).
const ADVANCE = `${NEWER}
local v = redis.call('HMGET', KEYS[1], 's', 'st', 't', 'fs', 'fst')
local seq, st = tonumber(ARGV[1]), tonumber(ARGV[2])
if v[1] then
  if not newer(seq, st, tonumber(v[1]), tonumber(v[2])) then return 0 end
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'st', ARGV[2], 'm', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
if v[3] and newer(seq, st, tonumber(v[4] or '0'), tonumber(v[5] or '0')) then
  redis.call('HSET', KEYS[1], 'fs', ARGV[1], 'fst', ARGV[2])
end
return 0`;

// KEYS[1]; ARGV: token, seq, st, message, ttl ms. A reader's MySQL answer.
const FILL = `${NEWER}
local v = redis.call('HMGET', KEYS[1], 's', 'st', 't', 'fs', 'fst')
local seq, st = tonumber(ARGV[2]), tonumber(ARGV[3])
if v[1] then
  if not newer(seq, st, tonumber(v[1]), tonumber(v[2])) then return 0 end
elseif v[3] ~= ARGV[1] then
  return 0
elseif newer(tonumber(v[4] or '0'), tonumber(v[5] or '0'), seq, st) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'st', ARGV[3], 'm', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

const readScript = redisScript<unknown[][]>(READ);
/** Exported for a test that makes only this script fail. */
export const advanceScript = redisScript<number>(ADVANCE);
const fillScript = redisScript<number>(FILL);

interface Encoded {
  i: string;
  c: string;
  t: number;
  s: string;
  r: string;
  ct: number;
  /** The content's preview (preview.ts), base64. */
  b: string;
  a: number;
  /** 1 when b was cut to the preview. */
  x?: number;
}

/** Stores only the preview: heads answer with nothing more, and Redis holds 1 KiB per head. */
function encode(full: MessageRecord, alreadyCut = false): string {
  const { content, truncated } = previewOf(full.content, full.contentType);
  const msg = { ...full, content };
  const e: Encoded = {
    i: msg.serverMsgId,
    c: msg.clientMsgId,
    t: msg.conversationType,
    s: msg.senderId,
    r: msg.recipientId,
    ct: msg.contentType,
    b: msg.content.toString('base64'),
    a: msg.sentAt.getTime(),
    ...(truncated || alreadyCut ? { x: 1 } : {}),
  };
  return JSON.stringify(e);
}

function decode(
  conversationId: string,
  seq: number,
  status: number,
  text: string,
): ConversationHead {
  const e = JSON.parse(text) as Encoded;
  const message: MessageRecord = {
    serverMsgId: e.i,
    clientMsgId: e.c,
    conversationId,
    conversationType: e.t as MessageRecord['conversationType'],
    seq,
    senderId: e.s,
    recipientId: e.r,
    contentType: e.ct,
    content: Buffer.from(e.b, 'base64'),
    status: status as MessageRecord['status'],
    sentAt: new Date(e.a),
  };
  // An entry written before previews were cached holds the full content: cut it here.
  const { content, truncated } = previewOf(message.content, message.contentType);
  return {
    conversationId,
    maxSeq: seq,
    lastMessage: { ...message, content },
    lastMessageTruncated: truncated || e.x === 1,
  };
}

export interface HeadCacheOptions {
  ttlSeconds: number;
  /** TTL of a cached "no messages yet" (max_seq 0). */
  emptyTtlSeconds: number;
  registry?: Registry;
  onError: (err: unknown, op: string) => void;
}

export interface HeadSource {
  heads(ids: string[]): Promise<ConversationHead[]>;
  maxSeqs(ids: string[]): Promise<Map<string, number>>;
}

const TOKEN_TTL_MS = 10_000;
const ADVANCE_RETRY_MS = 500;
const MAX_PENDING_ADVANCES = 100_000;

/**
 * max_seq and last message per conversation, read through Redis with MySQL behind it. Redis
 * failures never fail a call: the answer then comes from MySQL and cache_requests_total counts
 * the error.
 */
export class HeadCache {
  private readonly counter: Counter<'cache' | 'result'>;
  private readonly pending = new Map<string, MessageRecord>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly source: HeadSource,
    private readonly options: HeadCacheOptions,
  ) {
    this.counter = cacheCounter(options.registry);
  }

  /** Moves the cached heads forward to committed messages (sends, or recalls of them). */
  async advance(messages: MessageRecord[]): Promise<void> {
    await Promise.all(messages.map((msg) => this.advanceOne(msg)));
  }

  /** Stops retrying heads that could not be advanced. */
  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.closed = true;
  }

  private async advanceOne(msg: MessageRecord): Promise<boolean> {
    try {
      await advanceScript.run(
        this.redis,
        [headKey(msg.conversationId)],
        [msg.seq, msg.status, encode(msg), this.ttlMs(this.options.ttlSeconds)],
      );
      return true;
    } catch (err) {
      this.options.onError(err, 'head.advance');
      this.remember(msg);
      return false;
    }
  }

  /**
   * A head left behind would hide the commit from readers of the cache until the next send (or
   * the TTL), so it is retried until Redis takes it. Only the newest per conversation matters.
   */
  private remember(msg: MessageRecord): void {
    const known = this.pending.get(msg.conversationId);
    if (known && (known.seq > msg.seq || (known.seq === msg.seq && known.status >= msg.status))) {
      return;
    }
    this.pending.delete(msg.conversationId);
    this.pending.set(msg.conversationId, msg);
    if (this.pending.size > MAX_PENDING_ADVANCES) {
      this.pending.delete(this.pending.keys().next().value!);
      this.options.onError(new Error('too many heads waiting for Redis'), 'head.advance-dropped');
    }
    if (!this.retryTimer && !this.closed) {
      this.retryTimer = setTimeout(() => void this.retryPending(), ADVANCE_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private async retryPending(): Promise<void> {
    this.retryTimer = undefined;
    const batch = [...this.pending.values()];
    this.pending.clear();
    if (batch.length === 0) return;
    // One probe first, so a Redis that is still down costs one command (and one log line) per
    // retry, not one per waiting head. Failures put themselves back and re-arm the timer.
    if (!(await this.advanceOne(batch[0]!))) {
      for (const msg of batch.slice(1)) this.remember(msg);
      return;
    }
    await Promise.all(batch.slice(1).map((msg) => this.advanceOne(msg)));
  }

  /** max_seq of each id (0 when unknown). */
  async maxSeqs(ids: string[]): Promise<Map<string, number>> {
    const unique = [...new Set(ids)];
    const result = new Map<string, number>();
    const lookups = await this.read(unique, false);
    const misses: { id: string; token: string }[] = [];
    unique.forEach((id, i) => {
      const hit = lookups?.[i];
      if (hit && hit.kind === 'hit') result.set(id, hit.seq);
      else misses.push({ id, token: hit?.kind === 'miss' ? hit.token : '' });
    });
    if (misses.length === 0) return result;
    const loaded = await this.source.maxSeqs(misses.map((x) => x.id));
    const fills: Promise<void>[] = [];
    for (const { id, token } of misses) {
      const seq = loaded.get(id) ?? 0;
      result.set(id, seq);
      if (token) fills.push(this.fill(id, token, seq, 0, '', seq === 0));
    }
    // A value returned from MySQL is filled before it is returned, so no later reader can be
    // served an older one from the cache.
    await Promise.all(fills);
    return result;
  }

  /** Heads of the known conversations among ids, in request order. */
  async heads(ids: string[]): Promise<ConversationHead[]> {
    const unique = [...new Set(ids)];
    const lookups = await this.read(unique, true);
    const found = new Map<string, ConversationHead | null>();
    const misses: { id: string; token: string }[] = [];
    unique.forEach((id, i) => {
      const hit = lookups?.[i];
      if (hit?.kind === 'hit' && hit.seq === 0) found.set(id, null);
      else if (hit?.kind === 'hit' && hit.message !== undefined) {
        found.set(id, decode(id, hit.seq, hit.status, hit.message));
      } else misses.push({ id, token: hit?.kind === 'miss' ? hit.token : '' });
    });
    if (misses.length > 0) {
      const loaded = new Map(
        (await this.source.heads(misses.map((x) => x.id))).map((h) => [h.conversationId, h]),
      );
      const fills: Promise<void>[] = [];
      for (const { id, token } of misses) {
        const head = loaded.get(id);
        found.set(id, head ?? null);
        // A cached seq without its message (filled by a max_seq read) needs no token: the
        // message at that seq is a forward step for the script.
        if (!lookups) continue;
        fills.push(
          head
            ? this.fill(
                id,
                token,
                head.maxSeq,
                head.lastMessage.status,
                encode(head.lastMessage, head.lastMessageTruncated),
              )
            : this.fill(id, token, 0, 0, '', true),
        );
      }
      await Promise.all(fills);
    }
    return unique.flatMap((id) => found.get(id) ?? []);
  }

  private async read(
    ids: string[],
    wantMessage: boolean,
  ): Promise<
    | (
        | { kind: 'hit'; seq: number; status: number; message?: string }
        | { kind: 'miss'; token: string }
      )[]
    | null
  > {
    if (ids.length === 0) return [];
    const token = randomBytes(9).toString('base64url');
    const want = wantMessage ? '1' : '0';
    let replies: unknown[][];
    try {
      replies = this.redis.isCluster
        ? // Auto-pipelined: one round trip per node for the whole list.
          (
            await Promise.all(
              ids.map((id) =>
                readScript.run(this.redis, [headKey(id)], [want, token, TOKEN_TTL_MS]),
              ),
            )
          ).map((reply) => reply[0]!)
        : await readScript.run(this.redis, ids.map(headKey), [want, token, TOKEN_TTL_MS]);
    } catch (err) {
      this.options.onError(err, 'head.read');
      this.counter.inc({ cache: 'message_head', result: 'error' }, ids.length);
      return null;
    }
    return replies.map((reply) => {
      if (Number(reply[0]) === 1) {
        const seq = Number(reply[1]);
        const status = Number(reply[2]);
        const message = reply[3] === undefined || reply[3] === null ? undefined : String(reply[3]);
        const usable = !wantMessage || seq === 0 || message !== undefined;
        this.count(usable ? (seq === 0 ? 'negative_hit' : 'hit') : 'miss');
        return { kind: 'hit' as const, seq, status, message };
      }
      this.count('miss');
      return { kind: 'miss' as const, token: String(reply[1]) };
    });
  }

  private async fill(
    id: string,
    token: string,
    seq: number,
    status: number,
    message: string,
    empty = false,
  ): Promise<void> {
    const ttl = this.ttlMs(empty ? this.options.emptyTtlSeconds : this.options.ttlSeconds);
    try {
      await fillScript.run(this.redis, [headKey(id)], [token, seq, status, message, ttl]);
    } catch (err) {
      this.options.onError(err, 'head.fill');
    }
  }

  private ttlMs(seconds: number): number {
    return Math.round(seconds * 1000 * (1 + Math.random() * 0.1));
  }

  private count(result: 'hit' | 'miss' | 'negative_hit') {
    this.counter.inc({ cache: 'message_head', result });
  }
}
