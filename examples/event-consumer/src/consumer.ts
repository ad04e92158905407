import { Event } from '@im-repo/proto/events';
import { AckPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ConsumerOptions {
  stream: string;
  /** The durable name: the stream remembers how far this consumer got, across restarts. */
  durable: string;
  /** e.g. 'im.events.message.created.>'; empty: every event of the stream. */
  filterSubject?: string;
}

/** Message content as its size, not its bytes (Buffers reach JSON as {type, data}). */
function contentAsSize(_key: string, value: unknown): unknown {
  const v = value as { type?: unknown; data?: unknown } | null;
  return v && v.type === 'Buffer' && Array.isArray(v.data) ? `<${v.data.length} bytes>` : value;
}

/** One line per event: time, subject, id, kind and the payload as JSON. */
export function describe(subject: string, event: Event): string {
  const payload = event.payload;
  const json = JSON.stringify(payload?.value, contentAsSize);
  return `${event.occurredAt?.toISOString()} ${subject} ${event.eventId} ${payload?.$case} ${json}`;
}

/**
 * Consumes the events with a durable pull consumer (created when missing), handing each one
 * once to `handle`: JetStream redelivers what was not acked, so a recent event_id seen again is
 * skipped. Returns the running subscription; stop() ends it.
 */
export async function consumeEvents(
  nc: NatsConnection,
  options: ConsumerOptions,
  handle: (subject: string, event: Event) => void | Promise<void>,
): Promise<ConsumerMessages> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(options.stream, {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
  });
  const consumer = await jetstream(nc).consumers.get(options.stream, options.durable);
  const messages = await consumer.consume();
  // A bounded memory of recent ids: redeliveries come soon after the first delivery.
  const seen = new Set<string>();
  void (async () => {
    for await (const m of messages) {
      const event = Event.decode(m.data);
      if (!seen.has(event.eventId)) {
        seen.add(event.eventId);
        if (seen.size > 100_000) seen.delete(seen.values().next().value!);
        await handle(m.subject, event);
      }
      m.ack();
    }
  })();
  return messages;
}
