import { credentials, makeGenericClientConstructor, Metadata, type Client } from '@grpc/grpc-js';
import { FramePool } from './frame-client';
import { H2Pool, type LoadClient } from './h2-client';

export type LoadClientKind = 'frames' | 'h2' | 'grpc-js';
const KINDS: LoadClientKind[] = ['frames', 'h2', 'grpc-js'];
let kind: LoadClientKind = 'frames';

/**
 * `--client=`: `frames` (default, pre-encoded HTTP/2 frames on a socket), `h2` (node:http2) or
 * `grpc-js` (grpc-js's own client), to compare what the client costs.
 */
export function useLoadClient(k: LoadClientKind): void {
  if (!KINDS.includes(k))
    throw new Error(`unknown --client ${String(k)}; known: ${KINDS.join(', ')}`);
  kind = k;
}

/** The load loop's caller of pre-encoded requests (responses are not decoded). */
export function loadClient(address: string, channels: number): LoadClient {
  if (kind === 'frames') return new FramePool(address, channels);
  return kind === 'h2' ? new H2Pool(address, channels) : new RawPool(address, channels);
}

/**
 * grpc-js's client as a lean caller for the load loop: requests are encoded once by the scenario (many repeat
 * byte for byte) and responses are left undecoded unless asked, so the client spends its CPU on
 * the wire, not on protobuf. Several channels (own connections) spread the load.
 */
export class RawPool implements LoadClient {
  private readonly clients: Client[];
  private readonly metadata = new Metadata();

  constructor(address: string, channels: number) {
    const Ctor = makeGenericClientConstructor({}, 'raw');
    this.clients = Array.from(
      { length: channels },
      (_, i) =>
        new Ctor(address, credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1,
          'grpc.channel_id': i,
        } as never),
    );
  }

  call(worker: number, path: string, request: Buffer, timeoutMs = 10_000): Promise<Buffer> {
    const client = this.clients[worker % this.clients.length]!;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        this.metadata,
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
