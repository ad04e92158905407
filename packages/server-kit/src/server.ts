import {
  Server,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { Code, codeName } from '@im-repo/errors';
import type { ServiceInfo } from '@im-repo/proto';
import { REQUEST_ID_HEADER, runInContext, type CallContext } from './context';
import { mapError, translatePeerError, type ErrorTranslator } from './error-mapping';
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

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

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
    const method = def as { path: string; responseStream: boolean };
    const handler = (options.handlers as Record<string, unknown>)[name];
    if (typeof handler !== 'function') throw new Error(`no handler for ${method.path}`);
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    // Checked before validation (API.md): a stranger learns nothing about the request's shape.
    const authorize = internalRpcs.has(name) ? guardInternal : undefined;
    const grpcType = method.responseStream ? 'server_stream' : 'unary';
    const labels = { grpc_type: grpcType, grpc_service: service.name, grpc_method: rpc };
    const started = metrics.started.labels(labels);
    const handling = metrics.handling.labels(labels);
    // One bound child per status code: labelling on every call costs hashing and validation.
    const handledByCode = new Map<number, { inc(): void }>();
    const handled = (code: number) => {
      let child = handledByCode.get(code);
      if (!child) {
        child = metrics.handled.labels({ ...labels, grpc_code: codeName(code) });
        handledByCode.set(code, child);
      }
      return child;
    };

    const begin = (
      call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
    ) => {
      started.inc();
      inflight.add();
      const startedAt = process.hrtime.bigint();
      // The request id and the abort signal cost a random UUID and an AbortController per
      // call; most unary calls never look at them, so both are made on first use.
      let requestId = String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? '') || undefined;
      let signal: AbortSignal | undefined;
      let callLogger: Logger | undefined;
      const ctx: CallContext = {
        get requestId() {
          requestId ??= randomUUID();
          return requestId;
        },
        method: method.path,
        metadata: call.metadata,
        get signal() {
          if (!signal) {
            const abort = new AbortController();
            if (call.cancelled) abort.abort();
            else call.on('cancelled', () => abort.abort());
            signal = method.responseStream
              ? AbortSignal.any([abort.signal, shutdown.signal])
              : abort.signal;
          }
          return signal;
        },
        get logger() {
          callLogger ??= logger.child({ rpc, request_id: ctx.requestId });
          return callLogger;
        },
      };
      const finish = (err: unknown) => {
        const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
        let code: number = Code.OK;
        let status;
        if (err !== undefined) {
          const mapped = mapError(err, service.package, translators);
          status = mapped.status;
          code = status.code;
          if (mapped.internal !== undefined) {
            logger.error('rpc failed', {
              rpc,
              request_id: ctx.requestId,
              code: codeName(code),
              duration_ms: seconds * 1000,
              error:
                mapped.internal instanceof Error ? mapped.internal.stack : String(mapped.internal),
            });
          } else {
            logger.log(code === Code.UNAVAILABLE ? 'warn' : 'info', 'rpc', {
              rpc,
              request_id: ctx.requestId,
              code: codeName(code),
              reason: (err as { reason?: string }).reason,
              duration_ms: seconds * 1000,
            });
          }
        } else if (logger.isDebugEnabled()) {
          logger.debug('rpc', {
            rpc,
            request_id: ctx.requestId,
            code: 'OK',
            duration_ms: seconds * 1000,
          });
        }
        handled(code).inc();
        handling.observe(seconds);
        inflight.done();
        return status;
      };
      return { ctx, finish };
    };

    if (method.responseStream) {
      const streamHandler = handler as StreamHandler<unknown, unknown>;
      implementation[name] = (call: ServerWritableStream<unknown, unknown>) => {
        const { ctx, finish } = begin(call);
        runInContext(ctx, async () => {
          authorize?.(call);
          checkDecoded(call.request);
          return streamHandler(call.request, call, ctx);
        }).then(
          () => {
            finish(undefined);
            call.end();
          },
          (err: unknown) => {
            const status = finish(err);
            if (!call.cancelled) call.emit('error', status);
          },
        );
      };
    } else {
      const unaryHandler = handler as UnaryHandler<unknown, unknown>;
      implementation[name] = (
        call: ServerUnaryCall<unknown, unknown>,
        callback: sendUnaryData<unknown>,
      ) => {
        const { ctx, finish } = begin(call);
        runInContext(ctx, async () => {
          authorize?.(call);
          checkDecoded(call.request);
          return unaryHandler(call.request, ctx);
        }).then(
          (response) => {
            finish(undefined);
            callback(null, response);
          },
          (err: unknown) => callback(finish(err) ?? null),
        );
      };
    }
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
