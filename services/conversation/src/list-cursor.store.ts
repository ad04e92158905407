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

// Conversation ids never hold a comma (API.md's id alphabet), so the snapshot is one string.
const SEPARATOR = ',';

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
      // One SET of one string: every first page of a long list writes a snapshot, and a list
      // of 180 elements cost Redis and this process several times more (a MULTI, an RPUSH
      // with an argument per id, one allocation per element).
      await this.redis.set(key, ids.join(SEPARATOR), 'PX', this.options.ttlSeconds * 1000);
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
      const [text] = await Promise.all([
        this.redis.get(key),
        this.redis.pexpire(key, this.options.ttlSeconds * 1000),
      ]);
      const ids = text ? text.split(SEPARATOR).slice(offset) : [];
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
