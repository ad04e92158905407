import { expect } from 'chai';
import type { UserStatusRecord } from '../src/presence.types';
import { WatchSession, type WatchSink } from '../src/watch-session';

const status = (userId: string, version: number, online = true): UserStatusRecord => ({
  userId,
  version,
  lastSeenAt: new Date(version),
  devices: online
    ? [{ deviceId: 'd', platform: 1, lastHeartbeatAt: new Date(0), expiresAt: new Date(1) }]
    : [],
});

/** A consumer that takes `capacity` writes, then is behind until drain() is called. */
function slowSink(capacity: number) {
  const written: UserStatusRecord[] = [];
  let room = capacity;
  let resume: (() => void) | undefined;
  const sink: WatchSink = {
    write(s) {
      written.push(s);
      room--;
      return room > 0;
    },
    onDrain(fn) {
      resume = fn;
    },
  };
  return {
    sink,
    written,
    drain(more: number) {
      room = more;
      const fn = resume;
      resume = undefined;
      fn?.();
    },
  };
}

describe('WatchSession', () => {
  it('holds at most one pending status per watched user for a slow consumer, latest wins', () => {
    const consumer = slowSink(2);
    const session = new WatchSession(consumer.sink);
    const users = ['a', 'b', 'c'];
    session.begin(users.map((u) => status(u, 0, false)));
    expect(consumer.written.map((s) => s.userId)).to.deep.equal(['a', 'b']);
    let version = 1;
    let maxBacklog = 0;
    for (let i = 0; i < 30_000; i++) {
      session.offer(status(users[i % 3]!, version++, i % 2 === 0));
      maxBacklog = Math.max(maxBacklog, session.backlog);
    }
    expect(maxBacklog).to.be.at.most(users.length);
    expect(consumer.written).to.have.length(2);

    consumer.drain(1000);
    // c's unsent first status was replaced in place by its newest (still first for c, still in
    // request order); then the newest of a and b. Nothing in between, nothing stale.
    expect(consumer.written.map((s) => `${s.userId}@${s.version}`)).to.deep.equal([
      'a@0',
      'b@0',
      'c@30000',
      'a@29998',
      'b@29999',
    ]);
    expect(session.backlog).to.equal(0);
  });

  it('writes the first statuses in request order and merges earlier events by version', () => {
    const consumer = slowSink(100);
    const session = new WatchSession(consumer.sink);
    // Heard while the first read ran: one newer than the read, one older, one equal.
    session.offer(status('b', 7));
    session.offer(status('a', 2));
    session.offer(status('c', 5, false));
    expect(consumer.written).to.deep.equal([]);
    session.begin([status('c', 5, false), status('a', 3), status('b', 4)]);
    expect(consumer.written.map((s) => `${s.userId}@${s.version}`)).to.deep.equal([
      'c@5',
      'a@3',
      'b@7',
    ]);
    // Late duplicates and stale events are dropped; a newer one goes out.
    session.offer(status('b', 7));
    session.offer(status('a', 1));
    session.offer(status('a', 9, false));
    expect(consumer.written.map((s) => `${s.userId}@${s.version}`)).to.deep.equal([
      'c@5',
      'a@3',
      'b@7',
      'a@9',
    ]);
  });

  it('end() resolves, fail() rejects, and nothing is written afterwards', async () => {
    const ok = slowSink(100);
    const ended = new WatchSession(ok.sink);
    ended.begin([status('a', 1)]);
    ended.end();
    ended.offer(status('a', 2));
    await ended.done;
    expect(ok.written).to.have.length(1);

    const failed = new WatchSession(slowSink(100).sink);
    failed.fail(new Error('feed lost'));
    failed.end();
    let caught: unknown;
    await failed.done.catch((err: unknown) => (caught = err));
    expect((caught as Error).message).to.equal('feed lost');
  });
});
