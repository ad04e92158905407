import {
  connect,
  constants,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';

/** The subset of a load client a scenario uses: one unary call of pre-encoded bytes. */
export interface LoadClient {
  call(worker: number, path: string, request: Buffer, timeoutMs?: number): Promise<Buffer>;
  close(): void;
}

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } =
  constants;

/** A gRPC message frame: 1 byte "not compressed", 4 bytes length, the message. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

class CallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code} ${message}`);
  }
}

/**
 * gRPC unary calls on raw node:http2 sessions: no channel state machine, no call stack of
 * interceptors and filters, no protobuf. grpc-js's own client costs several times a server's
 * CPU per call on this box, and on a shared 2-core machine the client's CPU is taken from the
 * servers being measured; this one costs less than the cheapest server per call.
 */
export class H2Pool implements LoadClient {
  private readonly sessions: ClientHttp2Session[];
  private readonly headers = new Map<string, OutgoingHttpHeaders>();

  constructor(address: string, channels: number) {
    this.sessions = Array.from({ length: channels }, () => {
      const session = connect(`http://${address}`);
      // A failed session fails its calls through their streams; this keeps it from crashing us.
      session.on('error', () => undefined);
      return session;
    });
  }

  private headersFor(path: string, timeoutMs: number): OutgoingHttpHeaders {
    const key = `${path} ${timeoutMs}`;
    let h = this.headers.get(key);
    if (!h) {
      h = {
        [HTTP2_HEADER_METHOD]: 'POST',
        [HTTP2_HEADER_PATH]: path,
        [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        [HTTP2_HEADER_TE]: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
      };
      this.headers.set(key, h);
    }
    return h;
  }

  call(worker: number, path: string, request: Buffer, timeoutMs = 10_000): Promise<Buffer> {
    const session = this.sessions[worker % this.sessions.length]!;
    return new Promise((resolve, reject) => {
      const stream = session.request(this.headersFor(path, timeoutMs), { endStream: false });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const statusOf = (h: IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          message = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      // A trailers-only answer (an error) carries grpc-status in the response headers.
      stream.on('response', statusOf);
      stream.on('trailers', statusOf);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('close', () => {
        if (status === '0') {
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          resolve(body.subarray(5));
        } else if (status !== undefined) reject(new CallError(Number(status), message));
        else reject(new Error(`stream closed without a status (rst ${stream.rstCode})`));
      });
      stream.end(grpcFrame(request));
    });
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}
