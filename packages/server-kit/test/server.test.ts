import { spawn } from 'node:child_process';
import { createServer as createNetServer, Socket, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadConfig } from '@im-repo/config';
import { createSequelize, pingDatabase } from '@im-repo/db';
import { AppError, Code, NotFoundError } from '@im-repo/errors';
import { createGroupServiceClient, groupService } from '@im-repo/proto/group';
import { createUserServiceClient, userService } from '@im-repo/proto/user';
import { decodeGrpcError, expectGrpcError, freePort, GrpcStatus, waitFor } from '@im-repo/testing';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Writable } from 'node:stream';
import winston from 'winston';
import {
  createGrpcServer,
  createLogger,
  createStandInServer,
  peerClientOptions,
  startMetricsServer,
  type GrpcServer,
} from '../src';

/** A TCP proxy to MariaDB that the test can cut and restore: "the DB is unreachable". */
class SwitchableProxy {
  private server: NetServer | undefined;
  private sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(port = 0): Promise<void> {
    this.server = createNetServer((client) => {
      const upstream = new Socket();
      upstream.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

function healthClient(address: string) {
  const def = loadSync(healthProtoPath, { keepCase: true, enums: String });
  const pkg = loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: unknown) => HealthStub } } };
  };
  return new pkg.grpc.health.v1.Health(address, credentials.createInsecure());
}
interface HealthStub {
  Check(
    req: { service: string },
    cb: (err: ServiceError | null, res: { status: string }) => void,
  ): void;
  Watch(req: { service: string }): NodeJS.EventEmitter;
  close(): void;
}
const check = (client: HealthStub, service: string) =>
  new Promise<string>((resolve, reject) =>
    client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
  );

describe('server-kit', () => {
  const logLines: string[] = [];
  const logger = createLogger('test', 'debug');
  logger.clear();
  logger.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk, _enc, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    }),
  );

  let server: GrpcServer;
  let address: string;
  let dbReachable = true;

  before(async () => {
    server = createGrpcServer({
      service: userService,
      logger,
      healthChecks: { mysql: async () => dbReachable },
      healthIntervalMs: 50,
      handlers: {
        register: async () => {
          throw new Error('SELECT secret FROM users -- a bug with internals in its message');
        },
        login: async () => {
          throw new NotFoundError('THING_NOT_FOUND', 'no such thing', { thing_id: 't1' });
        },
        getUser: async (req, ctx) => ({
          user: { userId: req.userId, username: ctx.requestId, nickname: '', avatarUrl: '' },
        }),
        batchGetUsers: async () => {
          throw new AppError(Code.FAILED_PRECONDITION, 'GROUP_DISMISSED', 'the group is dismissed');
        },
        updateUser: async () => ({}),
        changePassword: async () => ({}),
        deleteUser: async () => ({}),
      },
    });
    address = `127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
  });

  after(async () => {
    await server.shutdown();
  });

  it('turns an unknown thrown error into INTERNAL with a generic message, logging the cause', async () => {
    const client = createUserServiceClient(address);
    const err = await expectGrpcError(
      client.register({ userId: '', username: 'a', password: 'b', nickname: '', avatarUrl: '' }),
      GrpcStatus.INTERNAL,
      'INTERNAL',
    );
    expect(err.message).to.equal('internal error');
    expect(JSON.stringify(err)).not.to.include('SELECT');
    expect(
      logLines.some((l) => l.includes('SELECT secret') && l.includes('"level":"error"')),
    ).to.equal(true);
    client.close();
  });

  it('sends an AppError as its code with google.rpc.ErrorInfo (reason, domain, metadata)', async () => {
    const client = createUserServiceClient(address);
    const err = await expectGrpcError(
      client.login({ username: 'x', password: 'y' }),
      GrpcStatus.NOT_FOUND,
    );
    expect(err).to.include({
      reason: 'THING_NOT_FOUND',
      domain: 'im.user.v1',
      message: 'no such thing',
    });
    expect(err.metadata).to.deep.equal({ thing_id: 't1' });
    const e2 = await expectGrpcError(
      client.batchGetUsers({ userIds: [] }),
      GrpcStatus.FAILED_PRECONDITION,
    );
    expect(e2.reason).to.equal('GROUP_DISMISSED');
    client.close();
  });

  it("uses the caller's x-request-id, or generates one", async () => {
    const client = createUserServiceClient(address);
    const { Metadata } = await import('@grpc/grpc-js');
    const md = new Metadata();
    md.set('x-request-id', 'req-123');
    const given = await client.getUser({ userId: 'u1' }, { metadata: md });
    expect(given.user!.username).to.equal('req-123');
    const generated = await client.getUser({ userId: 'u1' });
    expect(generated.user!.username).to.match(/^[0-9a-f-]{36}$/);
    client.close();
  });

  it('answers an undecodable request with INVALID_ARGUMENT, not INTERNAL', async () => {
    const client = createUserServiceClient(address);
    const raw = client.raw;
    // Field 1 (user_id) claims 5 bytes but the message ends after 1: truncated.
    const garbage = Buffer.from([0x0a, 0x05, 0x61]);
    const err = await new Promise<unknown>((resolve) =>
      raw.makeUnaryRequest(
        '/im.user.v1.UserService/GetUser',
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
        (e) => resolve(e),
      ),
    );
    const decoded = decodeGrpcError(err);
    expect(decoded.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(decoded.metadata.field).to.equal('request');
    client.close();
  });

  it('names an int64 beyond 2^53 by its field path, nested and repeated included', async () => {
    const { conversationService, RecordMessagesRequest } =
      await import('@im-repo/proto/conversation');
    const Long = (await import('long')).default;
    const stand = createStandInServer(conversationService, {});
    const port = await stand.listen(0, '127.0.0.1');
    const raw = createUserServiceClient(`127.0.0.1:${port}`).raw;
    const call = (path: string, body: Uint8Array) =>
      new Promise<unknown>((resolve) =>
        raw.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from(body),
          (e) => resolve(e),
        ),
      );
    try {
      // ts-proto cannot encode such numbers either: write the wire format with protobufjs' Long.
      const { Writer } = (await import('protobufjs')).default;
      const writer = Writer.create();
      writer.uint32(24).int64(Long.fromString('1152921504606846976')); // read_seq = 2^60
      const markRead = decodeGrpcError(
        await call('/im.conversation.v1.ConversationService/MarkRead', writer.finish()),
      );
      expect(markRead.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
      expect(markRead.metadata.field).to.equal('read_seq');

      const ok = RecordMessagesRequest.encode({
        records: [
          { conversationId: 'sg_g', conversationType: 2, senderId: 'a', recipientId: 'g', seq: 1 },
        ],
      }).finish();
      const record = Writer.create();
      record.uint32(40).int64(Long.fromString('-1152921504606846976')); // seq = -2^60
      const bad = Writer.create();
      bad.uint32(10).bytes(record.finish());
      const body = Buffer.concat([Buffer.from(ok), Buffer.from(bad.finish())]);
      const nested = decodeGrpcError(
        await call('/im.conversation.v1.ConversationService/RecordMessages', body),
      );
      expect(nested.metadata.field).to.equal('records[1].seq');
    } finally {
      raw.close();
      await stand.shutdown();
    }
  });

  it('exposes grpc_server_* series with go-grpc-prometheus labels after calls', async () => {
    const client = createUserServiceClient(address);
    await client.getUser({ userId: 'u1' });
    await client.login({ username: 'x', password: 'y' }).catch(() => undefined);
    const text = await server.metrics.registry.metrics();
    expect(text).to.include(
      'grpc_server_started_total{grpc_type="unary",grpc_service="im.user.v1.UserService",grpc_method="GetUser"}',
    );
    expect(text).to.match(
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="im.user.v1.UserService",grpc_method="GetUser",grpc_code="OK"\} [1-9]/,
    );
    expect(text).to.match(
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="im.user.v1.UserService",grpc_method="Login",grpc_code="NotFound"\} [1-9]/,
    );
    expect(text).to.match(
      /grpc_server_handling_seconds_bucket\{le="0.005",grpc_type="unary",grpc_service="im.user.v1.UserService",grpc_method="GetUser"\}/,
    );
    expect(text).to.include('process_cpu_seconds_total');
    // And over HTTP, as Prometheus scrapes it.
    const http = await startMetricsServer(server.metrics.registry, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
      expect(res.status).to.equal(200);
      expect(await res.text()).to.include('grpc_server_handled_total{grpc_type="unary"');
      expect((await fetch(`http://127.0.0.1:${http.port}/other`)).status).to.equal(404);
    } finally {
      await http.close();
    }
    client.close();
  });

  it('serves grpc.health.v1 for "" and the service name, following its checks', async () => {
    const client = healthClient(address);
    expect(await check(client, '')).to.equal('SERVING');
    expect(await check(client, 'im.user.v1.UserService')).to.equal('SERVING');
    dbReachable = false;
    await waitFor(async () => (await check(client, '')) === 'NOT_SERVING', { what: 'NOT_SERVING' });
    expect(await check(client, 'im.user.v1.UserService')).to.equal('NOT_SERVING');
    dbReachable = true;
    await waitFor(async () => (await check(client, 'im.user.v1.UserService')) === 'SERVING', {
      what: 'SERVING',
    });
    client.close();
  });

  it('an optional dependency only shows in dependency_up; a registered one counts from the next round', async () => {
    let cache = false;
    let nats = true;
    const degraded = createGrpcServer({
      service: userService,
      logger: createLogger('degraded', 'error'),
      healthChecks: {
        mysql: async () => true,
        redis: { check: async () => cache, required: false },
      },
      healthIntervalMs: 50,
      handlers: Object.fromEntries(
        Object.keys(userService.definition).map((name) => [name, async () => ({})]),
      ) as never,
    });
    const port = await degraded.listen(0, '127.0.0.1');
    const client = healthClient(`127.0.0.1:${port}`);
    const gauge = async () => (await degraded.metrics.registry.metrics()).split('\n');
    try {
      expect(await check(client, '')).to.equal('SERVING');
      expect(await gauge()).to.include.members([
        'dependency_up{dependency="mysql"} 1',
        'dependency_up{dependency="redis"} 0',
      ]);
      degraded.health.register('nats', { check: async () => nats, required: true });
      cache = true;
      await waitFor(async () => (await gauge()).includes('dependency_up{dependency="nats"} 1'), {
        what: 'nats counted',
      });
      expect(await gauge()).to.include('dependency_up{dependency="redis"} 1');
      nats = false;
      await waitFor(async () => (await check(client, '')) === 'NOT_SERVING', {
        what: 'NOT_SERVING on a required registered dependency',
      });
    } finally {
      client.close();
      await degraded.shutdown();
    }
  });

  it('offers server reflection v1 and v1alpha listing the service', async () => {
    for (const version of ['v1', 'v1alpha']) {
      const def = loadSync(`grpc/reflection/${version}/reflection.proto`, {
        includeDirs: [
          join(require.resolve('@grpc/reflection/package.json'), '..', 'build', 'proto'),
        ],
        keepCase: true,
      });
      const pkg = loadPackageDefinition(def) as unknown as Record<
        string,
        Record<
          string,
          Record<
            string,
            Record<
              string,
              new (
                a: string,
                c: unknown,
              ) => { ServerReflectionInfo(): NodeJS.ReadWriteStream & { end(): void } }
            >
          >
        >
      >;
      const Reflection = pkg.grpc!.reflection![version]!.ServerReflection!;
      const stub = new Reflection(address, credentials.createInsecure());
      const call = stub.ServerReflectionInfo();
      const answer = await new Promise<{ list_services_response: { service: { name: string }[] } }>(
        (resolve, reject) => {
          call.on('data', resolve);
          call.on('error', reject);
          call.write({ list_services: '' } as never);
        },
      );
      call.end();
      const names = answer.list_services_response.service.map((s) => s.name);
      expect(names, version).to.include.members([
        'im.user.v1.UserService',
        'grpc.health.v1.Health',
      ]);
    }
  });

  it('health turns NOT_SERVING while the real database is unreachable, and back', async () => {
    const db = loadConfig('user', { file: '' }).db;
    const proxy = new SwitchableProxy({ host: db.host, port: db.port });
    await proxy.open();
    const sequelize = createSequelize({
      ...db,
      port: proxy.port,
      name: 'mysql',
      connect_timeout_ms: 500,
    });
    const dbServer = createGrpcServer({
      service: userService,
      logger: createLogger('db-health', 'error'),
      healthChecks: { mysql: () => pingDatabase(sequelize, 500) },
      healthIntervalMs: 50,
      handlers: Object.fromEntries(
        Object.keys(userService.definition).map((name) => [name, async () => ({})]),
      ) as never,
    });
    const port = await dbServer.listen(0, '127.0.0.1');
    const client = healthClient(`127.0.0.1:${port}`);
    try {
      expect(await check(client, '')).to.equal('SERVING');
      await proxy.cut();
      await waitFor(async () => (await check(client, '')) === 'NOT_SERVING', {
        what: 'NOT_SERVING',
        timeoutMs: 10_000,
      });
      await proxy.open(proxy.port);
      await waitFor(async () => (await check(client, '')) === 'SERVING', {
        what: 'SERVING again',
        timeoutMs: 10_000,
      });
    } finally {
      client.close();
      await dbServer.shutdown();
      await sequelize.close();
      await proxy.cut().catch(() => undefined);
    }
  });

  it("relays a peer's error with its code and reason under its own domain; a down peer is UNAVAILABLE", async () => {
    const peer = createStandInServer(userService, {
      getUser: async () => {
        throw new NotFoundError('USER_NOT_FOUND', 'user u9 not found', { user_id: 'u9' });
      },
    });
    const peerPort = await peer.listen(0, '127.0.0.1');
    const config = loadConfig('group', { file: '' });
    const upstream = createUserServiceClient(`127.0.0.1:${peerPort}`, peerClientOptions(config));
    // The relay is another service (group): the error keeps code and reason, domain becomes its own.
    const relay = createStandInServer(groupService, {
      getMember: async (req) => {
        await upstream.getUser({ userId: req.userId });
        return {};
      },
    });
    const relayPort = await relay.listen(0, '127.0.0.1');
    const client = createGroupServiceClient(`127.0.0.1:${relayPort}`);
    try {
      const err = await expectGrpcError(
        client.getMember({ groupId: 'g1', userId: 'u9' }),
        GrpcStatus.NOT_FOUND,
        'USER_NOT_FOUND',
      );
      expect(err.metadata).to.deep.equal({ user_id: 'u9' });
      expect(err.domain).to.equal('im.group.v1');
      await peer.shutdown();
      const down = await expectGrpcError(
        client.getMember({ groupId: 'g1', userId: 'u9' }),
        GrpcStatus.UNAVAILABLE,
        'PEER_UNAVAILABLE',
      );
      expect(down.message).to.equal('a dependency is unavailable');
    } finally {
      client.close();
      upstream.close();
      await relay.shutdown();
    }
  });

  /** The slow fixture served through serve(), as its own process. */
  async function startSlowChild(env: Record<string, string>) {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      ['-r', 'tsx/cjs', join(__dirname, 'fixtures', 'slow-server.ts')],
      {
        env: {
          ...process.env,
          SERVER_PORT: String(port),
          METRICS_PORT: String(metricsPort),
          SERVER_HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
          CONFIG_FILE: '',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    // Both streams in arrival order, and each alone (a crash report would be on stderr).
    let [output, stdout, stderr] = ['', '', ''];
    child.stdout.on('data', (d) => ((output += String(d)), (stdout += String(d))));
    child.stderr.on('data', (d) => ((output += String(d)), (stderr += String(d))));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    await waitFor(() => output.includes('"listening"'), {
      timeoutMs: 20_000,
      what: 'the child to listen',
    });
    return {
      port,
      metricsPort,
      child,
      exited,
      output: () => output,
      stdout: () => stdout,
      stderr: () => stderr,
    };
  }

  const portTaken = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });

  it('on SIGTERM exits once its calls are done, not at its deadline, though clients hold connections and a health Watch', async function () {
    this.timeout(60_000);
    // A deadline the drain must not wait for.
    const { port, child, exited } = await startSlowChild({ SHUTDOWN_TIMEOUT_MS: '30000' });
    const client = createUserServiceClient(`127.0.0.1:${port}`);
    await client.getUser({ userId: 'warm' });
    const health = healthClient(`127.0.0.1:${port}`);
    const watch = health.Watch({ service: '' });
    const statuses: string[] = [];
    watch.on('data', (d: { status: string }) => statuses.push(d.status));
    watch.on('error', () => undefined);
    await waitFor(() => statuses.includes('SERVING'), { what: 'the Watch to report' });

    const started = Date.now();
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    const seconds = (Date.now() - started) / 1000;
    expect(seconds, 'seconds from SIGTERM to exit').to.be.below(15);
    client.close();
    health.close();
  });

  it('on SIGTERM frees its metrics port before it drains, so a replacement can bind it', async function () {
    this.timeout(60_000);
    const { port, metricsPort, child, exited, output } = await startSlowChild({
      SLOW_MS: '3000',
    });
    expect(await portTaken(metricsPort)).to.equal(true);
    const client = createUserServiceClient(`127.0.0.1:${port}`);
    let answered = false;
    const inFlight = client.getUser({ userId: 'drain-me' }, { timeoutMs: 20_000 }).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(() => output().includes('handling'), { what: 'the call to be handled' });
    child.kill('SIGTERM');
    await waitFor(async () => !(await portTaken(metricsPort)), {
      timeoutMs: 10_000,
      what: 'the metrics port to be released',
    });
    expect(answered, 'the call was still draining when the port was free').to.equal(false);
    const replacement = await startMetricsServer(new Registry(), metricsPort, '127.0.0.1');
    await replacement.close();
    expect((await inFlight).user!.userId).to.equal('drain-me');
    expect(await exited).to.equal(0);
    client.close();
  });

  it('on SIGTERM lets an in-flight call finish, then exits 0', async function () {
    this.timeout(30_000);
    const { port, child, exited, output } = await startSlowChild({ METRICS_PORT: '0' });

    const client = createUserServiceClient(`127.0.0.1:${port}`);
    const inFlight = client.getUser({ userId: 'drain-me' }, { timeoutMs: 10_000 });
    await waitFor(() => output().includes('handling'), {
      timeoutMs: 10_000,
      what: 'the call to be handled',
    });
    child.kill('SIGTERM');
    const { user } = await inFlight;
    expect(user!.userId).to.equal('drain-me');
    expect(await exited).to.equal(0);
    expect(output()).to.include('"stopped"');
    client.close();
    // New calls are refused once it stopped.
    const after = createUserServiceClient(`127.0.0.1:${port}`, { maxAttempts: 1, timeoutMs: 1000 });
    const err = await after.getUser({ userId: 'x' }).then(() => undefined, decodeGrpcError);
    expect(err?.code).to.equal(GrpcStatus.UNAVAILABLE);
    after.close();
  });

  for (const [kind, what] of [
    ['exception', 'uncaught exception'],
    ['rejection', 'unhandled rejection'],
  ] as const) {
    it(`logs an ${what} as one JSON line with its stack, then exits 1`, async function () {
      this.timeout(30_000);
      const { port, exited, stdout, stderr } = await startSlowChild({
        METRICS_PORT: '0',
        FAIL: kind,
      });
      const client = createUserServiceClient(`127.0.0.1:${port}`, { maxAttempts: 1 });
      await client.getUser({ userId: 'x' }).catch(() => undefined);
      client.close();
      expect(await exited).to.equal(1);
      const fatal = stdout()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, string>)
        .find((entry) => entry.message === what);
      expect(fatal, stdout()).to.not.equal(undefined);
      expect(fatal!.level).to.equal('error');
      expect(fatal!.service).to.equal('user');
      expect(fatal!.error).to.equal(
        kind === 'exception' ? 'boom outside a call' : 'nobody awaits this',
      );
      expect(fatal!.stack).to.contain('slow-server.ts');
      // Nothing but the JSON lines: Node's own crash report would go to stderr.
      expect(stderr()).to.equal('');
    });
  }
});
