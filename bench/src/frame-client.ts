import { connect, type Socket } from 'node:net';
import type { LoadClient } from './h2-client';

/*
 * gRPC unary calls written as pre-encoded HTTP/2 frames on a plain TCP socket. node:http2
 * costs about as much per call as a bare grpc-js server (a stream object, header objects and
 * their conversion, events), which on a 2-core box is taken from the servers being measured.
 * Here a call is one write of two frames whose header block was encoded once per path, and the
 * answer is read without decoding headers: a unary call succeeded when its stream carried a
 * message before the trailers (grpc servers send no message with a failing status); a
 * trailers-only answer or a reset is a failure.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const MAX_WINDOW = 2 ** 31 - 1;

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  return b;
}

/** HPACK string literal, no Huffman: 7-bit prefixed length, then the bytes. */
function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  const len: number[] = [];
  if (bytes.length < 127) len.push(bytes.length);
  else {
    len.push(127);
    let n = bytes.length - 127;
    while (n >= 128) {
      len.push((n % 128) + 128);
      n = Math.floor(n / 128);
    }
    len.push(n);
  }
  return Buffer.concat([Buffer.from(len), bytes]);
}

/** The request header block of a path, static-table references and literals only. */
function headerBlock(authority: string, path: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static 3 and 6)
    Buffer.from([0x04]), // :path, literal without indexing, name static 4
    hpackString(path),
    Buffer.from([0x01]), // :authority, name static 1
    hpackString(authority),
    Buffer.from([0x0f, 0x10]), // content-type, name static 31
    hpackString('application/grpc'),
    Buffer.from([0x00]), // te: new name
    hpackString('te'),
    hpackString('trailers'),
  ]);
}

interface Pending {
  /** The sweep tick it started in (see sweep()). */
  tick: number;
  gotMessage: boolean;
  chunks: Buffer[];
  resolve(b: Buffer): void;
  reject(e: Error): void;
}

class Connection {
  private socket: Socket;
  private nextStream = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = Buffer.alloc(0);
  private received = 0;
  private sendWindow = 65_535;
  private readonly waiting: Buffer[] = [];
  dead = false;
  private tick = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    host: string,
    port: number,
    private readonly blocks: Map<string, Buffer>,
    private readonly authority: string,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    // Our stream windows as large as allowed, and the connection's too: no updates needed.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(MAX_WINDOW, 2);
    const update = Buffer.alloc(4);
    update.writeUInt32BE(MAX_WINDOW - 65_535, 0);
    this.socket.write(
      Buffer.concat([
        PREFACE,
        frameHeader(6, SETTINGS, 0, 0),
        settings,
        frameHeader(4, WINDOW_UPDATE, 0, 0),
        update,
      ]),
    );
    this.socket.on('data', (d: Buffer) => this.onData(d));
    // Deadlines without a timer per call: once a second, calls older than 10 s fail.
    this.sweeper = setInterval(() => {
      this.tick++;
      for (const [id, p] of this.pending) {
        if (this.tick - p.tick > 10) {
          this.pending.delete(id);
          p.reject(new Error('deadline exceeded (10 s)'));
        }
      }
    }, 1000);
    this.sweeper.unref();
    const fail = (err: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
  }

  call(path: string, request: Buffer): Promise<Buffer> {
    let block = this.blocks.get(path);
    if (!block) {
      block = headerBlock(this.authority, path);
      this.blocks.set(path, block);
    }
    const stream = this.nextStream;
    this.nextStream += 2;
    const bytes = Buffer.allocUnsafe(9 + block.length + 9 + 5 + request.length);
    frameHeader(block.length, HEADERS, END_HEADERS, stream).copy(bytes, 0);
    block.copy(bytes, 9);
    let at = 9 + block.length;
    frameHeader(5 + request.length, DATA, END_STREAM, stream).copy(bytes, at);
    at += 9;
    bytes[at] = 0;
    bytes.writeUInt32BE(request.length, at + 1);
    request.copy(bytes, at + 5);
    return new Promise((resolve, reject) => {
      this.pending.set(stream, { tick: this.tick, gotMessage: false, chunks: [], resolve, reject });
      this.send(bytes, 5 + request.length);
    });
  }

  /** Writes, or queues behind the server's connection window (requests are tiny: rarely). */
  private send(bytes: Buffer, dataLength: number): void {
    if (this.waiting.length === 0 && this.sendWindow >= dataLength) {
      this.sendWindow -= dataLength;
      this.socket.write(bytes);
    } else this.waiting.push(bytes);
  }

  private flushWaiting(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      const dataLength = next.readUIntBE(9 + next.readUIntBE(0, 3), 3);
      if (this.sendWindow < dataLength) return;
      this.waiting.shift();
      this.sendWindow -= dataLength;
      this.socket.write(next);
    }
  }

  private onData(d: Buffer): void {
    let buf = this.buffered.length ? Buffer.concat([this.buffered, d]) : d;
    let at = 0;
    while (buf.length - at >= 9) {
      const length = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + length) break;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
      this.onFrame(type, flags, stream, buf.subarray(at + 9, at + 9 + length));
      at += 9 + length;
    }
    buf = buf.subarray(at);
    this.buffered = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case DATA: {
        const p = this.pending.get(stream);
        if (p && payload.length > 0) {
          p.gotMessage = true;
          p.chunks.push(Buffer.from(payload));
        }
        this.received += payload.length;
        if (this.received > 2 ** 30) {
          const update = Buffer.alloc(4);
          update.writeUInt32BE(this.received, 0);
          this.socket.write(Buffer.concat([frameHeader(4, WINDOW_UPDATE, 0, 0), update]));
          this.received = 0;
        }
        if (flags & END_STREAM) this.finish(stream);
        return;
      }
      case HEADERS:
        if (flags & END_STREAM) this.finish(stream);
        return;
      case RST_STREAM: {
        const p = this.pending.get(stream);
        this.pending.delete(stream);
        p?.reject(new Error(`stream reset (code ${payload.readUInt32BE(0)})`));
        return;
      }
      case SETTINGS:
        // The server's stream window only bounds each request, and requests are tiny.
        if (!(flags & ACK)) this.socket.write(frameHeader(0, SETTINGS, ACK, 0));
        return;
      case PING:
        if (!(flags & ACK))
          this.socket.write(Buffer.concat([frameHeader(8, PING, ACK, 0), payload]));
        return;
      case WINDOW_UPDATE:
        if (stream === 0) {
          this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          this.flushWaiting();
        }
        return;
      case GOAWAY: {
        // Calls above the last stream the server took will not be answered here.
        this.dead = true;
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        for (const [id, p] of this.pending) {
          if (id > last) {
            this.pending.delete(id);
            p.reject(new Error('GOAWAY'));
          }
        }
        return;
      }
      default:
        return;
    }
  }

  private finish(stream: number): void {
    const p = this.pending.get(stream);
    if (!p) return;
    this.pending.delete(stream);
    if (p.gotMessage) {
      const body = p.chunks.length === 1 ? p.chunks[0]! : Buffer.concat(p.chunks);
      p.resolve(body.subarray(5));
    } else p.reject(new Error('the call failed (trailers-only answer)'));
  }

  close(): void {
    this.dead = true;
    clearInterval(this.sweeper);
    this.socket.end();
  }
}

/** Unary calls as pre-encoded HTTP/2 frames over `channels` TCP connections. */
export class FramePool implements LoadClient {
  private readonly connections: Connection[];
  private readonly blocks = new Map<string, Buffer>();
  private readonly host: string;
  private readonly port: number;

  constructor(
    private readonly address: string,
    channels: number,
  ) {
    const i = address.lastIndexOf(':');
    this.host = address.slice(0, i);
    this.port = Number(address.slice(i + 1));
    this.connections = Array.from({ length: channels }, () => this.open());
  }

  private open(): Connection {
    return new Connection(this.host, this.port, this.blocks, this.address);
  }

  call(worker: number, path: string, request: Buffer): Promise<Buffer> {
    const k = worker % this.connections.length;
    let c = this.connections[k]!;
    // A connection the server sent away (max connection age) or lost is replaced.
    if (c.dead) c = this.connections[k] = this.open();
    return c.call(path, request);
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}
