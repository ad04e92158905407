import type { RedisClient } from '@im-repo/cache';
import { UnavailableError } from '@im-repo/errors';
import type { Logger } from '@im-repo/server-kit';
import { decodeStatus } from './status-codec';
import type { WatchSession } from './watch-session';

const feedLost = () =>
  new UnavailableError('REDIS_UNAVAILABLE', 'the status feed is unavailable; watch again');

/**
 * The status changes of every replica, heard on one Redis subscription per service instance
 * (a dedicated connection: a subscribed connection serves nothing else) and fanned out in
 * process to the watch sessions of each user.
 *
 * While the subscription is down, changes are missed, so the sessions are ended with
 * UNAVAILABLE (clients watch again and get fresh statuses) and new watches are refused until it
 * is back.
 */
export class StatusHub {
  private readonly byUser = new Map<string, Set<WatchSession>>();
  private readonly sessions = new Set<WatchSession>();
  private subscribed = false;
  private subscribing: Promise<boolean> | undefined;
  private closed = false;

  constructor(
    private readonly subscriber: RedisClient,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {
    subscriber.on('ready', () => void this.subscribe());
    subscriber.on('close', () => this.lost());
    subscriber.on('message', (from: string, text: string) => {
      if (from === this.channel) this.dispatch(text);
    });
  }

  /** True when changes are being heard (health, and whether a watch can start). */
  get ready(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Subscribes if the connection is up and not yet subscribed; resolves with readiness. */
  async ensureSubscribed(): Promise<boolean> {
    if (this.ready) return true;
    if (this.subscriber.status !== 'ready') return false;
    return this.subscribe();
  }

  /** Registers a session for some users; returns its unregistration. */
  register(userIds: string[], session: WatchSession): () => void {
    if (!this.ready) throw feedLost();
    this.sessions.add(session);
    for (const id of userIds) {
      const set = this.byUser.get(id);
      if (set) set.add(session);
      else this.byUser.set(id, new Set([session]));
    }
    return () => {
      this.sessions.delete(session);
      for (const id of userIds) {
        const set = this.byUser.get(id);
        set?.delete(session);
        if (set?.size === 0) this.byUser.delete(id);
      }
    };
  }

  close(): void {
    this.closed = true;
    for (const session of this.sessions) session.end();
    this.subscriber.disconnect();
  }

  private subscribe(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.subscribing ??= this.subscriber
      .subscribe(this.channel)
      .then(
        () => {
          if (!this.subscribed) this.logger.info('status feed subscribed');
          this.subscribed = true;
          return this.ready;
        },
        (err: unknown) => {
          this.logger.warn('status feed subscribe failed', { error: (err as Error).message });
          return false;
        },
      )
      .finally(() => {
        this.subscribing = undefined;
      });
    return this.subscribing;
  }

  private lost(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    if (this.closed) return;
    this.logger.warn('status feed lost; ending watch streams', { streams: this.sessions.size });
    for (const session of this.sessions) session.fail(feedLost());
  }

  private dispatch(text: string): void {
    try {
      const status = decodeStatus(text);
      for (const session of this.byUser.get(status.userId) ?? []) session.offer(status);
    } catch (err) {
      this.logger.error('bad status event', { error: (err as Error).message });
    }
  }
}
