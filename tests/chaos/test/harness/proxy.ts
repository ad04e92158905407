import { createServer, Socket, type Server } from 'node:net';
import { freePort } from '@im-repo/testing';

interface Pair {
  client: Socket;
  upstream: Socket;
}

// A MySQL COM_QUERY packet body starts with 0x03, then the statement.
const COMMIT = Buffer.from('\x03commit', 'latin1');

function holdsCommit(chunk: Buffer): boolean {
  return chunk.toString('latin1').toLowerCase().includes(COMMIT.toString('latin1'));
}

/**
 * A TCP relay between one service and MariaDB that, when faulty, resets connections: some at
 * random moments, some right after a COMMIT went to the server and before its reply came back,
 * so the service cannot know whether its transaction committed.
 */
export class FaultyProxy {
  faulty = false;
  /** Of the COMMITs seen while faulty, the share whose reply is cut off. */
  commitResetRatio = 0.4;
  commitResets = 0;
  /** Of those, the COMMITs that never reached the server. */
  commitsDropped = 0;
  randomResets = 0;
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(await freePort(), targetPort);
    proxy.server = createServer((client) => proxy.relay(client));
    await new Promise<void>((resolve) => proxy.server!.listen(proxy.port, '127.0.0.1', resolve));
    return proxy;
  }

  setFaulty(on: boolean): void {
    this.faulty = on;
    clearInterval(this.timer);
    if (on) {
      this.timer = setInterval(() => {
        const pairs = [...this.pairs];
        const victim = pairs[Math.floor(Math.random() * pairs.length)];
        if (victim) {
          this.randomResets++;
          this.reset(victim);
        }
      }, 250);
    }
  }

  private relay(client: Socket): void {
    const upstream = new Socket();
    const pair = { client, upstream };
    this.pairs.add(pair);
    let replyCut = false;
    upstream.connect(this.targetPort, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      if (this.faulty && holdsCommit(chunk) && Math.random() < this.commitResetRatio) {
        // The service cannot know the outcome: half of these COMMITs reach the server (their
        // reply never comes back), half never do (the transaction rolls back).
        this.commitResets++;
        replyCut = true;
        if (Math.random() < 0.5) upstream.write(chunk);
        else this.commitsDropped++;
        client.resetAndDestroy();
        setTimeout(() => upstream.destroy(), 500);
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!replyCut && !client.destroyed) client.write(chunk);
    });
    const close = () => {
      this.pairs.delete(pair);
      if (!replyCut) {
        client.destroy();
        upstream.destroy();
      }
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  }

  private reset(pair: Pair): void {
    this.pairs.delete(pair);
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (!pair.upstream.destroyed) pair.upstream.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.setFaulty(false);
    for (const pair of [...this.pairs]) this.reset(pair);
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
