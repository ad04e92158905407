import type { NewOutboxRow } from '@im-repo/outbox';
import { Event } from '@im-repo/proto/events';
import { newUlid } from './ids';

/** The outbox topic of the change events (every service that emits uses this one). */
export const EVENTS_TOPIC = 'event';

/**
 * An outbox row of one event: the key is the subject's last token (the order key across
 * kinds); the payload the encoded Event. occurredAt is the commit time: the database clock
 * read in the writing transaction.
 */
export function eventRow(
  key: string,
  occurredAt: Date,
  payload: NonNullable<Event['payload']>,
): NewOutboxRow {
  const { bytes } = newEvent(key, occurredAt, payload);
  return { topic: EVENTS_TOPIC, key, payload: bytes };
}

/** One encoded event and its order key (the subject's last token), with a fresh event_id. */
export interface KeyedEvent {
  key: string;
  bytes: Uint8Array;
}

export function newEvent(
  key: string,
  occurredAt: Date,
  payload: NonNullable<Event['payload']>,
): KeyedEvent {
  return { key, bytes: Event.encode({ eventId: newUlid(), occurredAt, payload }).finish() };
}

/**
 * The outbox topic of event batches: one row per commit carrying all of its events (see the
 * README, "One row per send commit"). Its rows all share one order key, EVENT_BATCH_KEY.
 */
export const EVENT_BATCH_TOPIC = 'event.batch';
/**
 * One key for every batch row of a table: ids are commit order for commits that share a
 * conversation (they serialize on its seq row before their rows get ids), so delivering the
 * table's batch rows in id order keeps every conversation's order across replicas.
 */
export const EVENT_BATCH_KEY = 'events';

/**
 * The outbox row of one commit's events: per event `varint(key length) key varint(event
 * length) event`, in commit order. Each event keeps its own event_id, so JetStream dedupes a
 * re-published batch event by event.
 */
export function eventBatchRow(events: readonly KeyedEvent[]): NewOutboxRow {
  const keys = events.map((e) => Buffer.from(e.key, 'utf8'));
  let size = 0;
  events.forEach((e, i) => {
    size += varintSize(keys[i]!.length) + keys[i]!.length;
    size += varintSize(e.bytes.length) + e.bytes.length;
  });
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const put = (bytes: Uint8Array) => {
    pos = writeVarint(out, pos, bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  };
  events.forEach((e, i) => {
    put(keys[i]!);
    put(e.bytes);
  });
  return { topic: EVENT_BATCH_TOPIC, key: EVENT_BATCH_KEY, payload: out };
}

/** The events of a batch row, in the order they were written. Throws on malformed bytes. */
export function decodeEventBatch(payload: Uint8Array): KeyedEvent[] {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const events: KeyedEvent[] = [];
  let pos = 0;
  const take = (): Buffer => {
    const [length, next] = readVarint(bytes, pos);
    if (next + length > bytes.length) throw new Error('truncated event batch');
    pos = next + length;
    return bytes.subarray(next, pos);
  };
  while (pos < bytes.length) {
    const key = take().toString('utf8');
    events.push({ key, bytes: take() });
  }
  return events;
}

const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

function writeVarint(out: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}

function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let result = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= bytes.length) throw new Error('truncated event batch');
    const b = bytes[pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [result, pos];
  }
  throw new Error('event batch length over 4 bytes');
}

/** What the publisher needs of a stored event without decoding it whole. */
export interface EventHead {
  eventId: string;
  /** The oneof field number of the payload (10-21). */
  field: number;
}

/**
 * Reads event_id (field 1) and the payload's field number by walking the top-level tags only:
 * the drainer publishes thousands of rows per second and needs neither content nor times.
 */
export function eventHead(bytes: Uint8Array): EventHead {
  let pos = 0;
  let eventId = '';
  let field = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated event');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      if (number === 1)
        eventId = Buffer.from(bytes.buffer, bytes.byteOffset + pos, length).toString('utf8');
      else if (number >= 10) field = number;
      pos += length;
    } else throw new Error(`unexpected wire type ${wire} in an event`);
  }
  if (eventId === '' || field === 0) throw new Error('an event without id or payload');
  return { eventId, field };
}
