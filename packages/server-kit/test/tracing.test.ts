import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createUserServiceClient } from '@im-repo/proto/user';
import { freePort, waitFor } from '@im-repo/testing';
import { expect } from 'chai';

// Two traced processes, front -> back (test/fixtures/traced-server.ts), exporting to an OTLP/HTTP
// receiver made here: one trace from front's server span through its client span to back's
// server span (traceparent crossed the wire), and each process's log lines carry that trace.
interface Span {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

const SERVER = 2;
const CLIENT = 3;

/** An OTLP/HTTP (JSON) trace receiver: POST /v1/traces, spans kept in order of arrival. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: Span[] }> {
  const spans: Span[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: Omit<Span, 'service'>[] }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const service =
            rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans)
              spans.push({ ...s, parentSpanId: s.parentSpanId ?? '', service });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}`, spans };
}

interface Proc {
  child: ChildProcess;
  port: number;
  lines: () => Array<Record<string, unknown>>;
}

async function start(env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['-r', 'tsx/cjs', join(__dirname, 'fixtures', 'traced-server.ts')],
    {
      env: {
        ...process.env,
        SERVER_PORT: String(port),
        METRICS_PORT: '0',
        SERVER_HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        CONFIG_FILE: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: '',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor(() => out.includes('"listening"'), { timeoutMs: 30_000, what: 'listening' });
  return { child, port, lines };
}

async function stop(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  await exited;
}

describe('tracing (OpenTelemetry, OTLP)', function () {
  this.timeout(90_000);
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let front: Proc | undefined;
  let back: Proc | undefined;

  before(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await stop(front);
    await stop(back);
    front = back = undefined;
  });
  after(() => receiver.server.close());

  it('follows one call through two services as one trace, and their log lines carry it', async () => {
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    back = await start({ ...otel, OTEL_SERVICE_NAME: 'back' });
    front = await start({
      ...otel,
      OTEL_SERVICE_NAME: 'front',
      NEXT_ADDR: `127.0.0.1:${back.port}`,
    });

    const client = createUserServiceClient(`127.0.0.1:${front.port}`, { timeoutMs: 10_000 });
    try {
      const { user } = await client.getUser({ userId: 'traced' });
      expect(user!.username).to.equal('back');
    } finally {
      client.close();
    }

    const spanOf = (service: string, kind: number) =>
      receiver.spans.find(
        (s) => s.service === service && s.kind === kind && s.name.includes('UserService/GetUser'),
      );
    await waitFor(
      () => Boolean(spanOf('front', SERVER) && spanOf('front', CLIENT) && spanOf('back', SERVER)),
      { timeoutMs: 30_000, what: 'the three spans at the receiver' },
    );
    const frontServer = spanOf('front', SERVER)!;
    const frontClient = spanOf('front', CLIENT)!;
    const backServer = spanOf('back', SERVER)!;

    // One trace: the test's call starts it, the peer call continues it across processes.
    const traceId = frontServer.traceId;
    expect(traceId).to.match(/^[0-9a-f]{32}$/);
    expect(frontServer.parentSpanId).to.equal('');
    expect(frontClient.traceId).to.equal(traceId);
    expect(frontClient.parentSpanId).to.equal(frontServer.spanId);
    expect(backServer.traceId).to.equal(traceId);
    expect(backServer.parentSpanId).to.equal(frontClient.spanId);

    // The handler's line and the call line, in each process, name the trace and their span.
    for (const [proc, span] of [
      [front, frontServer],
      [back, backServer],
    ] as const) {
      const handlerLine = proc.lines().find((l) => l.message === 'get user');
      expect(handlerLine, 'handler log line').to.include({
        trace_id: traceId,
        span_id: span.spanId,
      });
      const callLine = proc.lines().find((l) => l.message === 'rpc' && l.rpc === 'GetUser');
      expect(callLine, 'call log line').to.include({ trace_id: traceId, span_id: span.spanId });
    }
  });

  it('is off without an OTLP endpoint: nothing exported, no trace ids in the logs', async () => {
    const before = receiver.spans.length;
    back = await start({});
    const client = createUserServiceClient(`127.0.0.1:${back.port}`, { timeoutMs: 10_000 });
    try {
      await client.getUser({ userId: 'untraced' });
    } finally {
      client.close();
    }
    await stop(back);
    const handlerLine = back.lines().find((l) => l.message === 'get user');
    expect(handlerLine).to.not.equal(undefined);
    expect(handlerLine).to.not.have.property('trace_id');
    expect(receiver.spans.length).to.equal(before);
  });
});
