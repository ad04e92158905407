import { Event } from '@im-repo/proto/events';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Ledger } from './load';
import { sleep } from './process';

/** The run's own stream and prefix on its private NATS (never im.events, by the repo's rule). */
export const EVENTS_STREAM = 'CHAOS_EVENTS';
export const EVENTS_PREFIX = 'chaos.events';

export interface EventVerdict {
  /** message.created events read from the stream since the last check. */
  published: number;
  /** Acknowledged sends with no message.created in the stream (within the bound). */
  missing: string[];
  /** A second event for one stored message, or one event_id twice. */
  duplicated: string[];
  /** A conversation's message.created seqs not following 1, 2, 3, ... in stream order. */
  outOfOrder: string[];
  /** Events of no stored message, or carrying another seq than the one stored. */
  phantom: string[];
  /** How long until every acknowledged send's event was in the stream. */
  seconds: number;
}

/** Where a message is stored, by (sender, client_msg_id). */
export type StoredIndex = ReadonlyMap<string, { conversationId: string; seq: number }>;

/**
 * Reads the run's message.created events from the stream (an ordered consumer from where the
 * last check stopped, on a connection of its own so a NATS restart cannot wedge it) and checks
 * them against what clients were told and what the store holds.
 *
 * The contract: every committed change has exactly one event and nothing else does. Clients
 * here retry every send until it is acknowledged, so every committed send ends acknowledged;
 * an event is therefore compared with the store (a committed send the service never answered
 * is still a real message and must have its event), and every acknowledgement must have one.
 */
export class EventVerifier {
  private nextStreamSeq = 1;
  private readonly eventIds = new Set<string>();
  /** (sender, client_msg_id) -> the event's conversation and seq. */
  private readonly byKey = new Map<string, { conversationId: string; seq: number }>();
  private readonly lastSeq = new Map<string, number>();
  /** Found while reading, since the last check. */
  private fresh = { keys: [] as string[], duplicated: [] as string[], outOfOrder: [] as string[] };
  private badMsgIds: string[] = [];
  private published = 0;

  constructor(private readonly natsUrl: () => string) {}

  async verify(ledger: Ledger, stored: StoredIndex, boundMs: number): Promise<EventVerdict> {
    const started = Date.now();
    this.published = 0;
    let missing: string[];
    let readError = '';
    for (;;) {
      // A read that fails (NATS just restarted) is tried again until the bound.
      readError = await this.readNew().then(
        () => '',
        (err: Error) => ` (last read failed: ${err.message})`,
      );
      missing = [...ledger.acks.keys(), ...ledger.eventOnly.keys()].filter(
        (k) => !this.byKey.has(k),
      );
      if (missing.length === 0 || Date.now() - started > boundMs) break;
      await sleep(500);
    }
    // Every event must be of a message the store holds, at the seq it holds it.
    const phantom = this.badMsgIds;
    for (const key of this.fresh.keys) {
      const at = this.byKey.get(key)!;
      const s = stored.get(key) ?? ledger.eventOnly.get(key);
      if (!s || s.seq !== at.seq || s.conversationId !== at.conversationId) {
        phantom.push(`${key}: event ${at.conversationId} ${at.seq}, stored ${s?.seq ?? 'nowhere'}`);
      }
    }
    const { duplicated, outOfOrder } = this.fresh;
    this.fresh = { keys: [], duplicated: [], outOfOrder: [] };
    this.badMsgIds = [];
    return {
      published: this.published,
      missing: missing.map((k) => {
        const ack = ledger.acks.get(k) ?? ledger.eventOnly.get(k)!;
        return `${k}: acknowledged ${ack.conversationId} ${ack.seq}${readError}`;
      }),
      duplicated,
      outOfOrder,
      phantom,
      seconds: (Date.now() - started) / 1000,
    };
  }

  /** Reads every message.created from nextStreamSeq to the stream's end. */
  private async readNew(): Promise<void> {
    const nc = await connect({ servers: this.natsUrl(), maxReconnectAttempts: 0, timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
      if (!info || info.state.last_seq < this.nextStreamSeq) return;
      const last = info.state.last_seq;
      const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, {
        filter_subjects: `${EVENTS_PREFIX}.message.created.>`,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: this.nextStreamSeq,
      });
      let caughtUp = false;
      while (!caughtUp && this.nextStreamSeq <= last) {
        const batch = await consumer.fetch({ max_messages: 2000, expires: 2000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          this.take(
            m.subject,
            m.headers?.get('Nats-Msg-Id') ?? '',
            Event.decode(m.data),
            `stream seq ${m.seq} at ${new Date(m.info.timestampNanos / 1e6).toISOString()}`,
          );
          this.nextStreamSeq = m.seq + 1;
          if (m.info.pending === 0) {
            caughtUp = true;
            break;
          }
        }
        if (got === 0) break;
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
  }

  private take(subject: string, msgId: string, event: Event, at: string): void {
    if (event.payload?.$case !== 'messageCreated') return;
    this.published++;
    const message = event.payload.value.message!;
    const key = `${message.senderId}|${message.clientMsgId}`;
    const where = `${message.conversationId} seq ${message.seq} (${at}, committed ${event.occurredAt?.toISOString()})`;
    if (this.eventIds.has(event.eventId)) {
      this.fresh.duplicated.push(`event_id ${event.eventId} again (${key}, ${where})`);
      return;
    }
    this.eventIds.add(event.eventId);
    if (msgId !== event.eventId) this.badMsgIds.push(`${subject}: Nats-Msg-Id ${msgId}`);
    const seen = this.byKey.get(key);
    if (seen) {
      this.fresh.duplicated.push(`${key} at ${seen.seq} and again at ${message.seq}`);
      return;
    }
    this.byKey.set(key, { conversationId: message.conversationId, seq: message.seq });
    this.fresh.keys.push(key);
    const last = this.lastSeq.get(message.conversationId) ?? 0;
    if (message.seq !== last + 1) {
      this.fresh.outOfOrder.push(`${where} after ${last}`);
    }
    this.lastSeq.set(message.conversationId, Math.max(last, message.seq));
  }
}
