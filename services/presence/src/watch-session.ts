import type { UserStatusRecord } from './presence.types';

/** Where a watch writes: a gRPC server stream in production, anything in unit tests. */
export interface WatchSink {
  /** false: the consumer is behind; stop writing until onDrain's callback runs. */
  write(status: UserStatusRecord): boolean;
  onDrain(resume: () => void): void;
}

const keepNewer = (into: Map<string, UserStatusRecord>, status: UserStatusRecord) => {
  const held = into.get(status.userId);
  if (!held || status.version > held.version) into.set(status.userId, status);
};

/**
 * One WatchStatus stream: the first status of every watched user, then every change, in the
 * order they happened per user.
 *
 * Backpressure: while the consumer is behind, changes wait in a map keyed by user where the
 * newest status replaces an older one, so memory stays bounded by the number of watched users
 * however fast statuses change; a slow consumer skips intermediate states, never the latest.
 * Versions drop events older than (or equal to) what was already written, which also removes
 * the overlap between the first read and the events that arrived while it ran.
 */
export class WatchSession {
  readonly done: Promise<void>;
  private readonly pending = new Map<string, UserStatusRecord>();
  /** Events that arrive before the first statuses are read; merged by version when they are. */
  private early: Map<string, UserStatusRecord> | undefined = new Map();
  private readonly written = new Map<string, number>();
  private blocked = false;
  private finished = false;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor(private readonly sink: WatchSink) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A failure may come before anyone awaits done; it is still handled there.
    this.done.catch(() => undefined);
  }

  /** The first statuses, in the order the client asked for them. */
  begin(initial: UserStatusRecord[]): void {
    if (this.finished) return;
    for (const status of initial) this.pending.set(status.userId, status);
    for (const status of this.early?.values() ?? []) keepNewer(this.pending, status);
    this.early = undefined;
    this.flush();
  }

  /** A change of a watched user. */
  offer(status: UserStatusRecord): void {
    if (this.finished) return;
    if (this.early) {
      keepNewer(this.early, status);
      return;
    }
    if (status.version <= (this.written.get(status.userId) ?? -1)) return;
    keepNewer(this.pending, status);
    this.flush();
  }

  /** Statuses waiting for the consumer (bounded by the number of watched users). */
  get backlog(): number {
    return this.pending.size + (this.early?.size ?? 0);
  }

  /** Ends the stream normally (client gone, server shutting down). */
  end(): void {
    if (this.finish()) this.resolve();
  }

  /** Ends the stream with an error (the change feed was lost). */
  fail(err: unknown): void {
    if (this.finish()) this.reject(err);
  }

  private finish(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.pending.clear();
    this.early = undefined;
    return true;
  }

  private flush(): void {
    while (!this.blocked && !this.finished && this.pending.size > 0) {
      const [userId, status] = this.pending.entries().next().value as [string, UserStatusRecord];
      this.pending.delete(userId);
      if (status.version <= (this.written.get(userId) ?? -1)) continue;
      this.written.set(userId, status.version);
      if (!this.sink.write(status)) {
        this.blocked = true;
        this.sink.onDrain(() => {
          this.blocked = false;
          this.flush();
        });
      }
    }
  }
}
