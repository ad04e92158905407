import type { OutboxHandler, OutboxLogger } from '@im-repo/outbox';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Gauge, type Registry } from 'prom-client';
import { AckedPublisher } from './acked-publish';
import { decodeEventBatch, eventHead, EVENT_BATCH_TOPIC, type KeyedEvent } from './event-row';
import { ensureStream, StreamMisfitError, type StreamSettings } from './stream';
import { eventSubject, PATH_BY_FIELD } from './subjects';

export interface EventsSettings extends StreamSettings {
  /** Comma-separated NATS urls. */
  natsUrl: string;
}

export interface PublisherOptions {
  /** The connection's name on the NATS server (e.g. the service). */
  name: string;
  logger: OutboxLogger & { info?(message: string, meta?: Record<string, unknown>): unknown };
  registry?: Registry;
  /** How long open() waits for NATS before starting without it (events then wait in the outbox). */
  connectWaitMs?: number;
  /** How long one publish waits for its ack; keep it below the outbox lease. */
  publishTimeoutMs?: number;
}

const GAUGE = 'dependency_up';
/** Publishes awaiting their ack at once (see publish()). */
const MAX_IN_FLIGHT = 256;

/** dependency_up is shared with the health monitor's mysql/redis: whoever registers first owns it. */
function dependencyGauge(registry: Registry | undefined): Gauge<'dependency'> | undefined {
  if (!registry) return undefined;
  const existing = registry.getSingleMetric(GAUGE);
  if (existing) return existing as Gauge<'dependency'>;
  return new Gauge({
    name: GAUGE,
    help: 'Whether a dependency answered its last health check (1) or not (0)',
    labelNames: ['dependency'],
    registers: [registry],
  });
}

/**
 * The NATS side of the change events: one connection that reconnects forever, the stream
 * check, and the outbox handler that publishes rows in order per key. While NATS is down the
 * handler fails and the rows wait in the outbox; calls never wait for NATS.
 */
export class EventPublisher {
  private acks: AckedPublisher | undefined;
  /** Publishes waiting for their ack, and the ones queued behind MAX_IN_FLIGHT. */
  private inFlight = 0;
  private readonly queued: (() => void)[] = [];
  private readonly gauge: Gauge<'dependency'> | undefined;
  private closed = false;

  private constructor(
    private readonly connection: Promise<NatsConnection>,
    private readonly settings: EventsSettings,
    private readonly options: PublisherOptions,
  ) {
    this.gauge = dependencyGauge(options.registry);
    this.gauge?.set({ dependency: 'nats' }, 0);
  }

  /**
   * Connects and checks the stream. A stream that exists but does not fit throws
   * StreamMisfitError (the service must refuse to start). NATS not answering within
   * connectWaitMs does not: the service starts, and the check runs once NATS answers.
   */
  static async open(settings: EventsSettings, options: PublisherOptions): Promise<EventPublisher> {
    const connection = connect({
      servers: settings.natsUrl.split(',').map((s) => s.trim()),
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      // The client otherwise makes an Error (a stack capture) per publish up front, to decorate
      // a timeout: 4 % of the message service's CPU per send with events on.
      noAsyncTraces: true,
    });
    const publisher = new EventPublisher(connection, settings, options);
    const ready = connection.then((nc) => publisher.attach(nc));
    const waited = await Promise.race([
      ready.then(() => 'ready' as const),
      new Promise<'waiting'>((r) =>
        setTimeout(() => r('waiting'), options.connectWaitMs ?? 5000).unref(),
      ),
    ]);
    if (waited === 'waiting') {
      options.logger.warn('events: NATS does not answer yet; events wait in the outbox', {
        nats: settings.natsUrl,
      });
      ready.catch((err: unknown) =>
        options.logger.warn('events: stream unusable, events wait in the outbox', {
          stream: settings.stream,
          error: (err as Error).message,
        }),
      );
    }
    return publisher;
  }

  private async attach(nc: NatsConnection): Promise<void> {
    if (this.closed) return;
    try {
      await ensureStream(await jetstreamManager(nc), this.settings);
    } catch (err) {
      if (err instanceof StreamMisfitError) await nc.close().catch(() => undefined);
      throw err;
    }
    this.acks = new AckedPublisher(nc, this.options.publishTimeoutMs ?? 2000);
    this.gauge?.set({ dependency: 'nats' }, 1);
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.gauge?.set({ dependency: 'nats' }, 0);
          this.options.logger.warn('events: NATS disconnected; events wait in the outbox');
        } else if (status.type === 'reconnect') {
          this.gauge?.set({ dependency: 'nats' }, 1);
          this.options.logger.info?.('events: NATS reconnected');
        }
      }
    })();
  }

  /** Whether NATS is connected and the stream checked. */
  get up(): boolean {
    return this.acks !== undefined && !this.closed;
  }

  /**
   * The outbox handler of the 'event' topic (a row is one event) and of 'event.batch' (a row is
   * one commit's events). Events go in chains per subject key: the keys concurrently (their
   * publishes pipeline on the one connection), within a key one publish in flight at a time, in
   * row id order then batch order, and the first failure ends the key, so a retry can never land
   * behind a later event of its key (see README). A row counts as delivered once every one of
   * its events is in the stream; a re-published event is dropped by JetStream (its event_id is
   * the Nats-Msg-Id).
   */
  readonly handler: OutboxHandler = async (rows) => {
    const acks = this.acks;
    if (!acks) throw new Error('NATS is not connected');
    const chains = new Map<string, { rowId: number; bytes: Uint8Array }[]>();
    /** Events of each row not yet acknowledged. */
    const left = new Map<number, number>();
    /** Order keys of rows that cannot be read: their later rows wait behind them. */
    const stuck = new Set<string>();
    let failure: unknown;
    for (const row of [...rows].sort((a, b) => a.id - b.id)) {
      const orderKey = `${row.topic}\u0000${row.key}`;
      if (stuck.has(orderKey)) continue;
      let events: KeyedEvent[];
      try {
        events =
          row.topic === EVENT_BATCH_TOPIC
            ? decodeEventBatch(row.payload)
            : [{ key: row.key, bytes: row.payload }];
      } catch (err) {
        failure ??= err;
        stuck.add(orderKey);
        continue;
      }
      left.set(row.id, events.length);
      for (const e of events) {
        const chain = chains.get(e.key);
        const link = { rowId: row.id, bytes: e.bytes };
        if (chain) chain.push(link);
        else chains.set(e.key, [link]);
      }
    }
    await Promise.all(
      [...chains].map(async ([key, chain]) => {
        for (const link of chain) {
          try {
            await this.publish(acks, key, link.bytes);
            left.set(link.rowId, left.get(link.rowId)! - 1);
          } catch (err) {
            failure ??= err;
            return;
          }
        }
      }),
    );
    const delivered = [...left].filter(([, n]) => n === 0).map(([id]) => id);
    if (delivered.length === 0 && failure) throw failure;
    return delivered;
  };

  private async publish(acks: AckedPublisher, key: string, bytes: Uint8Array): Promise<void> {
    const head = eventHead(bytes);
    const path = PATH_BY_FIELD.get(head.field);
    if (!path) throw new Error(`event payload field ${head.field} is unknown`);
    // A drain of a backlog can hold tens of thousands of events of as many keys (500 batch rows
    // of ~50): issued at once, their timeouts would start together and the tail's would measure
    // our own queue, failing rows (and the key behind them) that NATS was about to ack. So at
    // most MAX_IN_FLIGHT wait for an ack at a time, and a timeout measures NATS.
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => this.queued.push(r));
    this.inFlight++;
    try {
      await acks.publish(eventSubject(this.settings.subjectPrefix, path, key), bytes, head.eventId);
    } finally {
      this.inFlight--;
      this.queued.shift()?.();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.gauge?.remove({ dependency: 'nats' });
    const nc = await Promise.race([this.connection, Promise.resolve(undefined)]);
    if (nc) await nc.drain().catch(() => undefined);
    else void this.connection.then((c) => c.close()).catch(() => undefined);
    // After the drain, which waits for the acks still on their way.
    this.acks?.close();
  }
}
