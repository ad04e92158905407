import { createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface PubAck {
  stream?: string;
  error?: { code?: number; err_code?: number; description?: string };
}

const decoder = new TextDecoder();

/**
 * JetStream publishes whose acks come back on one reply subscription, matched by the reply
 * subject's last token. The wire exchange is js.publish's: the event with its Nats-Msg-Id header
 * and a reply subject; the stream's PubAck (or its error), or the server's 503 status when no
 * stream takes the subject, arrive on the reply subject. What it drops is js.publish's request
 * per event (nats.js 3.4): a request object, a timer, a deferred, and an Error with its stack
 * built on every successful ack to settle the deferred it had already resolved. The message
 * service's profile charged those 7 us and more per event (docs/benchmarks.md).
 */
export class AckedPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.settle(err, msg) });
    // One sweep instead of a timer per publish; a timeout is late by at most a sweep period.
    this.sweeper = setInterval(() => this.expire(), Math.min(250, Math.max(20, timeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Resolves once the stream stored the event (or already had its msg id); rejects otherwise. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<void> {
    const token = (this.next++).toString(36);
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.pending.delete(token);
        reject(err as Error);
      }
    });
  }

  /** Fails whatever still waits (the connection is closing). */
  close(): void {
    clearInterval(this.sweeper);
    this.failAll(new Error('events publisher closed'));
  }

  private settle(err: Error | null, msg: Msg): void {
    if (err) {
      // The subscription itself failed (closed connection, permissions): nothing will answer.
      this.failAll(err);
      return;
    }
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiting = this.pending.get(token);
    // A late ack of a publish that timed out: its row goes again and the stream drops the copy.
    if (!waiting) return;
    this.pending.delete(token);
    if (msg.headers?.hasError) {
      waiting.reject(new Error(`NATS ${msg.headers.code} ${msg.headers.description}`.trim()));
      return;
    }
    let ack: PubAck;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as PubAck;
    } catch {
      waiting.reject(new Error('unreadable JetStream ack'));
      return;
    }
    if (ack.error) {
      const code = ack.error.err_code ?? ack.error.code ?? 0;
      waiting.reject(new Error(`JetStream error ${code}: ${ack.error.description ?? ''}`));
    } else if (!ack.stream) waiting.reject(new Error('invalid JetStream ack'));
    else waiting.resolve();
  }

  private expire(): void {
    const now = Date.now();
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) continue;
      this.pending.delete(token);
      waiting.reject(new Error(`no JetStream ack within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const waiting of all) waiting.reject(err);
  }
}
