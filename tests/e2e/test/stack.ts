import { SERVICES, type Config, type DeepPartial, type ServiceName } from '@im-repo/config';
import {
  openConversationDeps,
  createServer as createConversationServer,
} from '@im-repo/conversation-service';
import { openGroupDeps, createServer as createGroupServer } from '@im-repo/group-service';
import { openMessageDeps, createServer as createMessageServer } from '@im-repo/message-service';
import { openPresenceDeps, createServer as createPresenceServer } from '@im-repo/presence-service';
import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { createMessageServiceClient } from '@im-repo/proto/message';
import { createPresenceServiceClient } from '@im-repo/proto/presence';
import { createUserServiceClient } from '@im-repo/proto/user';
import { createServeContext, type GrpcServer, type ServeContext } from '@im-repo/server-kit';
import {
  createTestEnvironment,
  createTestEvents,
  freePort,
  startInProcess,
  TEST_CLIENT_TIMEOUT_MS,
  type InProcess,
  type TestEnvironment,
  type TestEvents,
} from '@im-repo/testing';
import { openUserDeps, createServer as createUserServer } from '@im-repo/user-service';

/** How main.ts builds a service (open deps, create the server), on a given port. */
const starter =
  <D extends { close(): Promise<void> }>(
    open: (ctx: ServeContext) => Promise<D>,
    create: (deps: D) => GrpcServer,
  ) =>
  (ctx: ServeContext, port: number): Promise<InProcess<unknown, GrpcServer>> =>
    startInProcess(() => open(ctx), create, port);

const STARTERS: Record<ServiceName, ReturnType<typeof starter>> = {
  user: starter(openUserDeps, createUserServer),
  group: starter(openGroupDeps, createGroupServer),
  message: starter(openMessageDeps, createMessageServer),
  conversation: starter(openConversationDeps, createConversationServer),
  presence: starter(openPresenceDeps, createPresenceServer),
};

export type Overrides = Partial<Record<ServiceName, DeepPartial<Config>>>;

/** The services that write change events. */
const EVENT_WRITERS: ServiceName[] = ['user', 'group', 'message', 'conversation'];

/**
 * A suite's stack with change events on, on the run's own NATS prefix and stream: started in
 * the suite's before() hook in an environment of its own, stopped with the stream in after().
 * `writers`: the services whose events are on (default every writer).
 */
export function eventsSuite(name: string, writers: ServiceName[] = EVENT_WRITERS) {
  const suite = {} as { env: TestEnvironment; events: TestEvents; stack: Stack };
  before(async () => {
    suite.env = await createTestEnvironment(name);
    suite.events = await createTestEvents();
    const on: DeepPartial<Config> = { events: suite.events.settings };
    suite.stack = await Stack.start(suite.env, Object.fromEntries(writers.map((s) => [s, on])));
  });
  after(async () => {
    await suite.stack?.stop();
    await suite.events?.teardown();
    await suite.env?.teardown();
  });
  return suite;
}

/** All five services wired to each other through config.peers, as in production. */
export class Stack {
  private running = new Map<ServiceName, InProcess<unknown, GrpcServer>>();
  private ports = {} as Record<ServiceName, number>;
  private contexts = new Map<ServiceName, ServeContext>();
  readonly clients;

  private constructor(
    private readonly env: TestEnvironment,
    private readonly overrides: Overrides,
  ) {
    this.clients = undefined as unknown as ReturnType<Stack['makeClients']>;
  }

  static async start(env: TestEnvironment, overrides: Overrides = {}): Promise<Stack> {
    const stack = new Stack(env, overrides);
    for (const s of SERVICES) stack.ports[s] = await freePort();
    // Start in dependency order so start-up calls (if any) find their peers.
    try {
      for (const s of ['user', 'conversation', 'message', 'group', 'presence'] as ServiceName[])
        await stack.startService(s);
    } catch (err) {
      // The suite's after() has no stack to stop: without this the test process never exits.
      await Promise.all(SERVICES.map((s) => stack.stopService(s)));
      throw err;
    }
    (stack as { clients: unknown }).clients = stack.makeClients();
    return stack;
  }

  address(s: ServiceName): string {
    return `127.0.0.1:${this.ports[s]}`;
  }

  config(s: ServiceName): Config {
    const peers = Object.fromEntries(SERVICES.map((p) => [p, this.address(p)]));
    // A generous peer deadline: CI runs every suite at once on two cores, and a missed deadline
    // on the send path's inline RecordMessages would (correctly) defer the record to the outbox,
    // which the read-your-writes checks here would then see as a failure.
    return this.env.config(s, {
      ...this.overrides[s],
      server: { port: this.ports[s] },
      peers: { ...peers, timeout_ms: 15_000 },
    });
  }

  /** The /metrics text of a running service. */
  metrics(s: ServiceName): Promise<string> {
    return this.contexts.get(s)!.metrics.registry.metrics();
  }

  async startService(s: ServiceName): Promise<void> {
    const ctx = createServeContext(this.config(s));
    this.contexts.set(s, ctx);
    this.running.set(s, await STARTERS[s](ctx, this.ports[s]));
  }

  /**
   * One more replica of a service (same config, its own port; `adjust` may change the config):
   * its address and stop().
   */
  async startReplica(
    s: ServiceName,
    adjust: (config: Config) => Config = (config) => config,
  ): Promise<{ address: string; stop(): Promise<void> }> {
    const port = await freePort();
    const ctx = createServeContext(
      adjust({
        ...this.config(s),
        server: { ...this.config(s).server, port },
      }),
    );
    const replica = await STARTERS[s](ctx, port);
    return { address: `127.0.0.1:${port}`, stop: () => replica.stop() };
  }

  async stopService(s: ServiceName): Promise<void> {
    const r = this.running.get(s);
    if (!r) return;
    this.running.delete(s);
    await r.stop();
  }

  private makeClients() {
    const opts = { timeoutMs: TEST_CLIENT_TIMEOUT_MS };
    return {
      user: createUserServiceClient(this.address('user'), opts),
      group: createGroupServiceClient(this.address('group'), opts),
      message: createMessageServiceClient(this.address('message'), opts),
      conversation: createConversationServiceClient(this.address('conversation'), opts),
      presence: createPresenceServiceClient(this.address('presence'), opts),
    };
  }

  /**
   * Registers users with these ids (usernames derived from them); returns the ids. `user` is
   * the client to call through, for stacks whose own clients cannot (mutual TLS).
   */
  async registerUsers(
    userIds: string[],
    user: Pick<Stack['clients']['user'], 'register'> = this.clients.user,
  ): Promise<string[]> {
    for (const userId of userIds) {
      await user.register({
        userId,
        username: userId.replace(/-/g, '_').slice(0, 32),
        password: 'password-1',
        nickname: '',
        avatarUrl: '',
      });
    }
    return userIds;
  }

  async stop(): Promise<void> {
    for (const c of Object.values(this.clients ?? {})) c.close();
    for (const s of [...this.running.keys()].reverse()) await this.stopService(s);
  }
}
