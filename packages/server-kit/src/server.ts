import {
  Server,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { ServiceInfo } from '@im-repo/proto';
import {
  composeStages,
  contextStage,
  errorStage,
  logStage,
  metricsStage,
  type MethodInfo,
} from './call-stages';
import { runInContext, type CallContext } from './context';
import { translatePeerError, type ErrorTranslator } from './error-mapping';
import { HealthMonitor, type HealthChecks } from './health';
import { internalCallerGuard } from './internal-callers';
import type { Logger } from './logger';
import { createMetrics, type GrpcMetrics } from './metrics';
import { addReflection } from './reflection';
import { checkDecoded, tolerantDefinition } from './request-decoding';
import { serverCredentials, type TlsConfig, type TlsFiles } from './tls';

type RequestOf<M> = M extends { requestDeserialize: (value: Buffer) => infer Req } ? Req : never;
type ResponseOf<M> = M extends { responseSerialize: (value: infer Res) => Buffer } ? Res : never;

/** A handler for a server-streaming rpc: write to the call, resolve when done. */
export type StreamHandler<Req, Res> = (
  request: Req,
  call: ServerWritableStream<Req, Res>,
  ctx: CallContext,
) => Promise<void>;

export type UnaryHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
) => Promise<Res | PreEncoded<Res>>;

declare const encodedOf: unique symbol;
/** The response message already encoded; the server sends these bytes unchanged. */
export type PreEncoded<Res> = Buffer & { readonly [encodedOf]: Res };

/**
 * Marks bytes as the encoding of a unary rpc's response (a cache holding answers encoded spares
 * the decode of a cached value and the encode of the answer). Nothing checks them: they must
 * be a valid encoding of Res.
 */
export const preEncoded = <Res>(bytes: Buffer): PreEncoded<Res> => bytes as PreEncoded<Res>;

/** Async handlers for every rpc of a ts-proto service definition. */
export type ServiceHandlers<D> = {
  [K in keyof D]: D[K] extends { responseStream: true }
    ? StreamHandler<RequestOf<D[K]>, ResponseOf<D[K]>>
    : UnaryHandler<RequestOf<D[K]>, ResponseOf<D[K]>>;
};

export interface GrpcServerOptions<D extends object> {
  service: ServiceInfo<D>;
  handlers: ServiceHandlers<D>;
  logger: Logger;
  metrics?: GrpcMetrics;
  /** Named dependencies behind grpc.health.v1 and dependency_up (e.g. mysql, redis). */
  healthChecks?: HealthChecks;
  healthIntervalMs?: number;
  /** Library errors to caller-visible ones (db, redis); peers' errors are always relayed. */
  translators?: ErrorTranslator[];
  tls?: TlsFiles & Partial<Pick<TlsConfig, 'internal_callers'>>;
  /** Rpcs only peers may call: under mutual TLS, only certificates in tls.internal_callers. */
  internalRpcs?: readonly (keyof D & string)[];
  /** HTTP/2 keepalive pings, so that the calls of a vanished client end. */
  keepalive?: { timeMs: number; timeoutMs: number };
  /** How long shutdown() waits for in-flight calls before cancelling them. */
  shutdownTimeoutMs?: number;
}

export interface GrpcServer {
  readonly server: Server;
  readonly metrics: GrpcMetrics;
  readonly health: HealthMonitor;
  readonly logger: Logger;
  /** Aborted when shutdown starts; long-lived streams end on it. */
  readonly shutdownSignal: AbortSignal;
  /** Binds and starts serving; resolves with the bound port (0 picks a free one). */
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting calls, lets in-flight ones finish (up to the timeout), then stops. */
  shutdown(): Promise<void>;
}

/**
 * The one gRPC server bootstrap: wraps every handler with request ids, logging, metrics and
 * error mapping; adds health and reflection. Returns a server that is not listening yet, so
 * tests start it in-process on port 0.
 */
export function createGrpcServer<D extends object>(options: GrpcServerOptions<D>): GrpcServer {
  const { service, logger } = options;
  const metrics = options.metrics ?? createMetrics();
  const translators = [...(options.translators ?? []), translatePeerError];
  const shutdown = new AbortController();
  // channelz bookkeeping costs every call a little and nothing here reads it.
  const server = new Server({
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
    'grpc.enable_channelz': 0,
    // GOAWAY after about 5 minutes (grpc-js adds jitter): calls in flight and streams go on, and
    // clients reconnect and re-resolve, so round_robin over dns:/// targets finds new replicas.
    'grpc.max_connection_age_ms': 5 * 60_000,
    ...(options.keepalive
      ? {
          'grpc.keepalive_time_ms': options.keepalive.timeMs,
          'grpc.keepalive_timeout_ms': options.keepalive.timeoutMs,
        }
      : {}),
  });
  const guardInternal = internalCallerGuard(options.tls);
  const internalRpcs = new Set<string>(options.internalRpcs ?? []);
  const health = new HealthMonitor(
    service.name,
    options.healthChecks ?? {},
    logger,
    metrics.registry,
  );
  const inflight = new InFlight();

  const implementation: UntypedServiceImplementation = {};
  const definition = tolerantDefinition(service as ServiceInfo);
  for (const [name, def] of Object.entries(service.definition)) {
    const { path, responseStream } = def as { path: string; responseStream: boolean };
    const handler = (options.handlers as Record<string, unknown>)[name];
    if (typeof handler !== 'function') throw new Error(`no handler for ${path}`);
    const method: MethodInfo = {
      path,
      rpc: path.slice(path.lastIndexOf('/') + 1),
      package: service.package,
      service: service.name,
      responseStream,
    };
    const begin = composeStages({
      context: contextStage(method, logger, shutdown.signal),
      metrics: metricsStage(method, metrics),
      mapError: errorStage(method, translators),
      log: logStage(method, logger),
      inflight,
    });
    // Checked before validation (API.md): a stranger learns nothing about the request's shape.
    const authorize = internalRpcs.has(name) ? guardInternal : undefined;
    implementation[name] = responseStream
      ? streamMethod(begin, authorize, handler as StreamHandler<unknown, unknown>)
      : unaryMethod(begin, authorize, handler as UnaryHandler<unknown, unknown>);
  }

  server.addService(definition as unknown as Parameters<Server['addService']>[0], implementation);
  health.implementation.addToServer(server);
  addReflection(server, service as ServiceInfo);

  const tls = options.tls;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  let stopping: Promise<void> | undefined;

  return {
    server,
    metrics,
    health,
    logger,
    shutdownSignal: shutdown.signal,
    async listen(port, host = '0.0.0.0') {
      const bound = await new Promise<number>((resolve, reject) => {
        server.bindAsync(
          `${host}:${port}`,
          tls ? serverCredentials(tls) : serverCredentials({ cert: '', key: '', ca: '' }),
          (err, p) => (err ? reject(err) : resolve(p)),
        );
      });
      await health.check();
      health.start(options.healthIntervalMs ?? 2000);
      return bound;
    },
    shutdown() {
      stopping ??= new Promise<void>((resolve) => {
        health.stop();
        shutdown.abort();
        const force = setTimeout(() => {
          logger.warn('shutdown: deadline passed, cancelling in-flight calls');
          server.forceShutdown();
          resolve();
        }, shutdownTimeoutMs);
        const finish = () => {
          clearTimeout(force);
          resolve();
        };
        // GOAWAY on every connection: clients stop sending here and move to other replicas.
        server.tryShutdown(finish);
        // A connection's graceful close also waits for streams no handler of ours serves (a
        // health Watch), which held a drain until its deadline. Our own calls are what must
        // finish; once they have (and their responses had time to go out), the rest is closed.
        void inflight.idle(DRAIN_GRACE_MS).then(() => {
          server.forceShutdown();
          finish();
        });
      });
      return stopping;
    },
  };
}

type Begin = ReturnType<typeof composeStages>;
type Authorize = ReturnType<typeof internalCallerGuard>;

/**
 * The handler's promise; a synchronous throw (a failed guard or decode) becomes a rejection.
 * Not an async function: that would wrap the handler's promise in one more per call.
 */
function invoke<T>(
  ctx: CallContext,
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  authorize: Authorize,
  run: () => Promise<T>,
): Promise<T> {
  return runInContext(ctx, () => {
    try {
      authorize?.(call);
      checkDecoded(call.request);
      return run();
    } catch (err) {
      return Promise.reject(err);
    }
  });
}

function unaryMethod(begin: Begin, authorize: Authorize, handler: UnaryHandler<unknown, unknown>) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const { ctx, finish } = begin(call);
    invoke(ctx, call, authorize, () => handler(call.request, ctx)).then(
      (response) => {
        finish();
        callback(null, response);
      },
      (err: unknown) => callback(finish(err) ?? null),
    );
  };
}

function streamMethod(
  begin: Begin,
  authorize: Authorize,
  handler: StreamHandler<unknown, unknown>,
) {
  return (call: ServerWritableStream<unknown, unknown>) => {
    const { ctx, finish } = begin(call);
    invoke(ctx, call, authorize, () => handler(call.request, call, ctx)).then(
      () => {
        finish();
        call.end();
      },
      (err: unknown) => {
        const status = finish(err);
        if (!call.cancelled) call.emit('error', status);
      },
    );
  };
}

/** How long a drained server waits for its last responses to leave before closing. */
const DRAIN_GRACE_MS = 500;

/** Calls being handled by this server's own handlers. */
class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  add(): void {
    this.count++;
  }

  done(): void {
    this.count--;
    if (this.count === 0) {
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves once no call has been in flight for graceMs. */
  async idle(graceMs: number): Promise<void> {
    for (;;) {
      if (this.count > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
      await new Promise((resolve) => setTimeout(resolve, graceMs));
      if (this.count === 0) return;
    }
  }
}
