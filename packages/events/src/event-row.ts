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
  const bytes = Event.encode({ eventId: newUlid(), occurredAt, payload }).finish();
  return { topic: EVENTS_TOPIC, key, payload: bytes };
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
