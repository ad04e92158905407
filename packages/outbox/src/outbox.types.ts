/** A row to write: what to deliver (topic), in which order (key), and the bytes. */
export interface NewOutboxRow {
  /** Which handler delivers it, e.g. 'conversation.records' or 'event'. */
  topic: string;
  /** Rows of one (topic, key) are delivered in id order, never two at once. At most 255 bytes. */
  key: string;
  payload: Uint8Array;
}

/** A stored row, as handlers receive it. */
export interface OutboxRow {
  /** Auto-increment: commit order within a key. */
  id: number;
  topic: string;
  key: string;
  payload: Buffer;
  /** Delivery attempts so far, this one included. 0 on the inline path's first attempt. */
  attempts: number;
}

/** What enqueue wrote; pass it to deliver() once the transaction has committed. */
export interface Enqueued {
  readonly rows: readonly OutboxRow[];
  /** Per row: whether it is held for the inline delivery (otherwise it is due at once). */
  readonly inline: readonly boolean[];
}

export interface DeliveryContext {
  /** 'inline': right after the writer's commit; 'outbox': the drainer. */
  path: 'inline' | 'outbox';
}

/**
 * Delivers rows of one topic, of many keys at once, each key's rows in id order. Returns the
 * ids delivered (undefined: all of them) or throws (none). Rows of a key after its first
 * undelivered one count as undelivered too. Must be idempotent: delivery is at least once.
 */
export type OutboxHandler = (
  rows: OutboxRow[],
  context: DeliveryContext,
) => Promise<Iterable<number> | void>;

export interface TopicOptions {
  /** Deliver right after commit (default true); false leaves every row to the drainer. */
  inline?: boolean;
  /**
   * Keep each key's rows in commit order on the inline path too (default true). false for
   * idempotent, order-independent deliveries: their inline attempt never waits behind another
   * replica's pending rows of the key (the drainer still sends a key's rows in order).
   */
  ordered?: boolean;
  /**
   * Deliver through the drainer, many commits per handler call (default false): enqueue writes
   * the rows due at once, and deliver() wakes the drainer within 25 ms instead of calling the
   * handler itself. For a topic whose rows share one key, where per-commit inline deliveries
   * would queue behind each other (and behind other replicas' rows) one statement at a time.
   * Implies inline: false.
   */
  drainSoon?: boolean;
}

/** Structured warnings (winston's Logger fits). */
export interface OutboxLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
}
