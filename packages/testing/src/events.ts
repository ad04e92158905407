import { randomBytes } from 'node:crypto';
import { Event } from '@im-repo/proto/events';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The shared NATS of the machine (JetStream on), or EVENTS_TEST_NATS_URL. */
export const TEST_NATS_URL = process.env.EVENTS_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export interface StoredEvent {
  subject: string;
  /** The stream sequence. */
  seq: number;
  msgId: string;
  /** When the stream stored it (the NATS server's clock). */
  storedAt: Date;
  event: Event;
}

export interface TestEvents {
  natsUrl: string;
  /** `t<random>.events`: never under im.events, so runs and deployments never overlap. */
  prefix: string;
  stream: string;
  /** What a config's events section takes. */
  settings: { nats_url: string; stream: string; subject_prefix: string; max_age_hours: number };
  /** Every event in the stream so far, in stream order. */
  read(): Promise<StoredEvent[]>;
  /** Waits until the stream holds at least n events; returns them all. */
  waitFor(n: number, timeoutMs?: number): Promise<StoredEvent[]>;
  jsm: JetStreamManager;
  /** Deletes the run's stream and closes the connection. */
  teardown(): Promise<void>;
}

/** A subject prefix and stream of the run's own on a NATS (created by the services when they start). */
export async function createTestEvents(natsUrl = TEST_NATS_URL): Promise<TestEvents> {
  const id = randomBytes(4).toString('hex');
  const prefix = `t${id}.events`;
  const stream = `T_${id.toUpperCase()}_EVENTS`;
  const nc: NatsConnection = await connect({ servers: natsUrl, maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const read = async (): Promise<StoredEvent[]> => {
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info) return [];
    const out: StoredEvent[] = [];
    for (
      let seq = info.state.first_seq;
      seq <= info.state.last_seq && info.state.messages > 0;
      seq++
    ) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!m) continue;
      out.push({
        subject: m.subject,
        seq: m.seq,
        msgId: m.header?.get('Nats-Msg-Id') ?? '',
        storedAt: m.time,
        event: Event.decode(m.data),
      });
    }
    return out;
  };
  return {
    natsUrl,
    prefix,
    stream,
    settings: { nats_url: natsUrl, stream, subject_prefix: prefix, max_age_hours: 1 },
    read,
    async waitFor(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const info = await jsm.streams.info(stream).catch(() => undefined);
        if ((info?.state.messages ?? 0) >= n) return read();
        if (Date.now() > deadline) {
          throw new Error(
            `stream ${stream} holds ${info?.state.messages ?? 0} events, ${n} expected`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    jsm,
    async teardown() {
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    },
  };
}
