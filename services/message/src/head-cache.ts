import { randomBytes } from 'node:crypto';
import { cacheCounter, redisScript, type RedisClient } from '@im-repo/cache';
import type { Counter, Registry } from 'prom-client';
import { headKey, seqKey } from './message.cache-keys';
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
 *
 * Beside each hash, a plain string key holds s alone (the seq key), so a list's 200 max_seqs are
 * one MGET instead of a script walking 200 hashes. Only the scripts write it, in the same call
 * as the hash and with the same TTL: set to s whenever s is written or read, deleted by an
 * advance that finds no hash. So it is never ahead of MySQL, and a commit either moves it or
 * removes it; a missing one sends the reader to the hash (which recreates it).
 */

const NEWER = `
local function newer(seq, st, cs, cst)
  return seq > cs or (seq == cs and st > cst)
end`;

// KEYS: head key and seq key per conversation, in pairs; ARGV: want message (1/0), new token,
// token ttl ms. -> per conversation {1, s, st, m?} cached, or {0, token} to fill. A standalone
// Redis takes every key of a request in one call (a script call costs Redis far more than the
// reads it makes); Redis Cluster gets one call per conversation, auto-pipelined per node.
const READ = `
local out = {}
for i = 1, #KEYS, 2 do
  local key = KEYS[i]
  local v = redis.call('HMGET', key, 's', 'st', 't')
  local n = (i + 1) / 2
  if v[1] then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then redis.call('SET', KEYS[i + 1], v[1], 'PX', ttl) end
    if ARGV[1] == '1' and tonumber(v[2]) > 0 then
      out[n] = {1, v[1], v[2], redis.call('HGET', key, 'm')}
    else
      out[n] = {1, v[1], v[2]}
    end
  elseif v[3] then
    out[n] = {0, v[3]}
  else
    redis.call('HSET', key, 't', ARGV[2])
    redis.call('PEXPIRE', key, ARGV[3])
    out[n] = {0, ARGV[2]}
  end
end
return out`;

// KEYS: head key, seq key; ARGV: seq, st, message, ttl ms. After a commit (send or recall).
const ADVANCE = `${NEWER}
local v = redis.call('HMGET', KEYS[1], 's', 'st', 't', 'fs', 'fst')
local seq, st = tonumber(ARGV[1]), tonumber(ARGV[2])
if v[1] then
  if not newer(seq, st, tonumber(v[1]), tonumber(v[2])) then return 0 end
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'st', ARGV[2], 'm', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  return 1
end
-- No hash (expired, evicted, flushed): a seq key left over would now be behind this commit.
redis.call('DEL', KEYS[2])
if v[3] and newer(seq, st, tonumber(v[4] or '0'), tonumber(v[5] or '0')) then
  redis.call('HSET', KEYS[1], 'fs', ARGV[1], 'fst', ARGV[2])
end
return 0`;

// KEYS: head key, seq key; ARGV: token, seq, st, message, ttl ms. A reader's MySQL answer.
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
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
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
        [headKey(msg.conversationId), seqKey(msg.conversationId)],
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
    const all = [...new Set(ids)];
    const result = new Map<string, number>();
    // The seq keys first: one plain read for the whole list; the rest go through the hashes.
    const seqs = await this.readSeqs(all);
    const unique = seqs ? all.filter((_, i) => seqs[i] === null) : all;
    if (seqs) {
      let hits = 0;
      let negative = 0;
      all.forEach((id, i) => {
        const s = seqs[i];
        if (s === null || s === undefined) return;
        const seq = Number(s);
        result.set(id, seq);
        if (seq === 0) negative++;
        else hits++;
      });
      this.count('hit', hits);
      this.count('negative_hit', negative);
    }
    if (unique.length === 0) return result;
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

  /** The seq keys of ids (null where missing); null when Redis failed. */
  private async readSeqs(ids: string[]): Promise<(string | null)[] | null> {
    if (ids.length === 0) return [];
    try {
      return this.redis.isCluster
        ? // Keys of one request live in different slots: one GET each, auto-pipelined per node.
          await Promise.all(ids.map((id) => this.redis.get(seqKey(id))))
        : await this.redis.mget(ids.map(seqKey));
    } catch (err) {
      this.options.onError(err, 'head.read');
      return null;
    }
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
                readScript.run(this.redis, [headKey(id), seqKey(id)], [want, token, TOKEN_TTL_MS]),
              ),
            )
          ).map((reply) => reply[0]!)
        : await readScript.run(
            this.redis,
            ids.flatMap((id) => [headKey(id), seqKey(id)]),
            [want, token, TOKEN_TTL_MS],
          );
    } catch (err) {
      this.options.onError(err, 'head.read');
      this.counter.inc({ cache: 'message_head', result: 'error' }, ids.length);
      return null;
    }
    // Counted per outcome, not per key: a list asks for 200 at once.
    const counts = { hit: 0, miss: 0, negative_hit: 0 };
    const out = replies.map((reply) => {
      if (Number(reply[0]) === 1) {
        const seq = Number(reply[1]);
        const status = Number(reply[2]);
        const message = reply[3] === undefined || reply[3] === null ? undefined : String(reply[3]);
        const usable = !wantMessage || seq === 0 || message !== undefined;
        counts[usable ? (seq === 0 ? 'negative_hit' : 'hit') : 'miss']++;
        return { kind: 'hit' as const, seq, status, message };
      }
      counts.miss++;
      return { kind: 'miss' as const, token: String(reply[1]) };
    });
    for (const [result, n] of Object.entries(counts)) this.count(result as keyof typeof counts, n);
    return out;
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
      await fillScript.run(
        this.redis,
        [headKey(id), seqKey(id)],
        [token, seq, status, message, ttl],
      );
    } catch (err) {
      this.options.onError(err, 'head.fill');
    }
  }

  private ttlMs(seconds: number): number {
    return Math.round(seconds * 1000 * (1 + Math.random() * 0.1));
  }

  private count(result: 'hit' | 'miss' | 'negative_hit', n = 1) {
    if (n > 0) this.counter.inc({ cache: 'message_head', result }, n);
  }
}
