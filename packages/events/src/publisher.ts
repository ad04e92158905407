import type { OutboxHandler, OutboxLogger, OutboxRow } from '@im-repo/outbox';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Gauge, type Registry } from 'prom-client';
import { eventHead } from './event-row';
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
  private js: JetStreamClient | undefined;
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
    this.js = jetstream(nc);
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
    return this.js !== undefined && !this.closed;
  }

  /**
   * The outbox handler of the 'event' topic. Keys go concurrently (their publishes pipeline on
   * the one connection); within a key one publish is in flight at a time, and the first failure
   * ends the key, so a retry can never land behind a later event of its key (see README).
   */
  readonly handler: OutboxHandler = async (rows) => {
    const js = this.js;
    if (!js) throw new Error('NATS is not connected');
    const keys = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const list = keys.get(row.key);
      if (list) list.push(row);
      else keys.set(row.key, [row]);
    }
    const delivered: number[] = [];
    let failure: unknown;
    await Promise.all(
      [...keys.values()].map(async (list) => {
        list.sort((a, b) => a.id - b.id);
        for (const row of list) {
          try {
            const head = eventHead(row.payload);
            const path = PATH_BY_FIELD.get(head.field);
            if (!path) throw new Error(`event payload field ${head.field} is unknown`);
            await js.publish(
              eventSubject(this.settings.subjectPrefix, path, row.key),
              row.payload,
              {
                msgID: head.eventId,
                timeout: this.options.publishTimeoutMs ?? 2000,
              },
            );
            delivered.push(row.id);
          } catch (err) {
            failure ??= err;
            return;
          }
        }
      }),
    );
    if (delivered.length === 0 && failure) throw failure;
    return delivered;
  };

  async close(): Promise<void> {
    this.closed = true;
    this.gauge?.remove({ dependency: 'nats' });
    const nc = await Promise.race([this.connection, Promise.resolve(undefined)]);
    if (nc) await nc.drain().catch(() => undefined);
    else void this.connection.then((c) => c.close()).catch(() => undefined);
  }
}
