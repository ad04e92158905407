import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@im-repo/cache';
import { Counter, type Registry } from 'prom-client';
import { listCursorKey } from './conversation.cache-keys';

export interface ListCursorOptions {
  ttlSeconds: number;
  registry?: Registry;
  /** Told when Redis fails; the list then pages by keyset instead. */
  onError: (err: unknown, op: string) => void;
}

type CursorResult = 'created' | 'hit' | 'gone' | 'error';

// Ids per RPUSH, so a long snapshot is not one giant command.
const PUSH_CHUNK = 1000;

function cursorCounter(registry: Registry | undefined): Counter<'result'> {
  const name = 'conversation_list_cursor_total';
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'result'>;
  return new Counter({
    name,
    help: 'List snapshots by outcome; gone/error mean a page fell back to keyset paging',
    labelNames: ['result'],
    registers: registry ? [registry] : [],
  });
}

/**
 * Snapshots of a list walk in Redis: the ordered ids that a first page did not return yet, so
 * later pages follow that order even while new messages reorder the live list. Redis trouble
 * never fails a list: save answers undefined and read answers undefined (keyset fallback).
 */
export class ListCursorStore {
  private readonly counter: Counter<'result'>;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: ListCursorOptions,
  ) {
    this.counter = cursorCounter(options.registry);
  }

  /** Stores the ids; returns the cursor id, or undefined when Redis failed. */
  async save(userId: string, ids: string[]): Promise<string | undefined> {
    const cursorId = randomBytes(9).toString('base64url');
    const key = listCursorKey(userId, cursorId);
    try {
      const tx = this.redis.multi();
      for (let i = 0; i < ids.length; i += PUSH_CHUNK)
        tx.rpush(key, ...ids.slice(i, i + PUSH_CHUNK));
      tx.pexpire(key, this.options.ttlSeconds * 1000);
      const results = await tx.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('transaction discarded');
      this.count('created');
      return cursorId;
    } catch (err) {
      this.fail(err, 'save');
      return undefined;
    }
  }

  /**
   * The snapshot's ids from offset on, with its TTL renewed (a slow walk keeps it); undefined
   * when it is gone (expired, flushed) or Redis failed.
   */
  async read(userId: string, cursorId: string, offset: number): Promise<string[] | undefined> {
    const key = listCursorKey(userId, cursorId);
    try {
      const [ids] = await Promise.all([
        this.redis.lrange(key, offset, -1),
        this.redis.pexpire(key, this.options.ttlSeconds * 1000),
      ]);
      // Tokens are only issued while entries remain, so an empty answer means the key is gone.
      if (ids.length === 0) {
        this.count('gone');
        return undefined;
      }
      this.count('hit');
      return ids;
    } catch (err) {
      this.fail(err, 'read');
      return undefined;
    }
  }

  private count(result: CursorResult) {
    this.counter.inc({ result });
  }

  private fail(err: unknown, op: string) {
    this.count('error');
    this.options.onError(err, `list-cursor.${op}`);
  }
}
