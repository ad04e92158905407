import type { ServerUnaryCall, ServerWritableStream, StatusObject } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { Code, codeName } from '@im-repo/errors';
import { REQUEST_ID_HEADER, type CallContext } from './context';
import { mapError, type ErrorTranslator } from './error-mapping';
import type { Logger } from './logger';
import type { GrpcMetrics } from './metrics';

/*
 * The stages every call of a method goes through (context, metrics, log, error mapping). Each
 * stage is built once per method, so a call pays only for the work that is its own: no label
 * hashing, no closures over the method's constants, no request id or AbortController unless
 * the handler asks for one.
 */

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/** What the stages know of the method they serve. */
export interface MethodInfo {
  /** Full path: /im.user.v1.UserService/GetUser. */
  path: string;
  /** The rpc's name alone: GetUser. */
  rpc: string;
  /** proto package of the service (error reasons' domain). */
  package: string;
  service: string;
  responseStream: boolean;
}

/** Context stage: the CallContext of one call, each costly part made on first use. */
export function contextStage(method: MethodInfo, logger: Logger, shutdown: AbortSignal) {
  return (call: AnyCall): CallContext => {
    // Reading the caller's request id, a random UUID, an AbortController and a child logger per
    // call add up; most unary calls never look at them.
    let requestId: string | undefined;
    let signal: AbortSignal | undefined;
    let callLogger: Logger | undefined;
    const ctx: CallContext = {
      get requestId() {
        requestId ??= String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? '') || randomUUID();
        return requestId;
      },
      method: method.path,
      metadata: call.metadata,
      get signal() {
        if (!signal) {
          const abort = new AbortController();
          if (call.cancelled) abort.abort();
          else call.on('cancelled', () => abort.abort());
          // Streams also end on shutdown; a unary call runs to its end.
          signal = method.responseStream ? AbortSignal.any([abort.signal, shutdown]) : abort.signal;
        }
        return signal;
      },
      get logger() {
        callLogger ??= logger.child({ rpc: method.rpc, request_id: ctx.requestId });
        return callLogger;
      },
    };
    return ctx;
  };
}

/** Metrics stage: started / handled / handling time, with the children bound once. */
export function metricsStage(method: MethodInfo, metrics: GrpcMetrics) {
  const labels = {
    grpc_type: method.responseStream ? 'server_stream' : 'unary',
    grpc_service: method.service,
    grpc_method: method.rpc,
  };
  const started = metrics.started.labels(labels);
  const handling = metrics.handling.labels(labels);
  // One bound child per status code: labelling on every call costs hashing and validation.
  const handledByCode = new Map<number, { inc(): void }>();
  return {
    start(): void {
      started.inc();
    },
    end(code: number, seconds: number): void {
      let child = handledByCode.get(code);
      if (!child) {
        child = metrics.handled.labels({ ...labels, grpc_code: codeName(code) });
        handledByCode.set(code, child);
      }
      child.inc();
      handling.observe(seconds);
    },
  };
}

/** Error-mapping stage: any thrown value to the status the caller gets. */
export function errorStage(method: MethodInfo, translators: ErrorTranslator[]) {
  return (err: unknown) => mapError(err, method.package, translators);
}

/** Log stage: failures always, successes at debug only. */
export function logStage(method: MethodInfo, logger: Logger) {
  const { rpc } = method;
  return (
    ctx: CallContext,
    seconds: number,
    failure?: { err: unknown; code: number; internal?: unknown },
  ): void => {
    if (!failure) {
      if (logger.isDebugEnabled()) {
        logger.debug('rpc', {
          rpc,
          request_id: ctx.requestId,
          code: 'OK',
          duration_ms: seconds * 1000,
        });
      }
      return;
    }
    const { err, code, internal } = failure;
    if (internal !== undefined) {
      logger.error('rpc failed', {
        rpc,
        request_id: ctx.requestId,
        code: codeName(code),
        duration_ms: seconds * 1000,
        error: internal instanceof Error ? internal.stack : String(internal),
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
  };
}

/** The stages of one method, composed: begin a call, then finish it with its outcome. */
export function composeStages(stages: {
  context: ReturnType<typeof contextStage>;
  metrics: ReturnType<typeof metricsStage>;
  mapError: ReturnType<typeof errorStage>;
  log: ReturnType<typeof logStage>;
  /** Told when a call starts and ends (in-flight count for a graceful shutdown). */
  inflight: { add(): void; done(): void };
}) {
  const { context, metrics, mapError: toStatus, log, inflight } = stages;
  return (call: AnyCall) => {
    metrics.start();
    inflight.add();
    // A double, not hrtime.bigint(): two BigInts per call are garbage.
    const startedAt = performance.now();
    const ctx = context(call);
    /** Records the outcome; returns the status to send when the call failed. */
    const finish = (err?: unknown): Partial<StatusObject> | undefined => {
      const seconds = (performance.now() - startedAt) / 1000;
      let code: number = Code.OK;
      let status: Partial<StatusObject> | undefined;
      if (err !== undefined) {
        const mapped = toStatus(err);
        status = mapped.status;
        code = mapped.status.code;
        log(ctx, seconds, { err, code, internal: mapped.internal });
      } else log(ctx, seconds);
      metrics.end(code, seconds);
      inflight.done();
      return status;
    };
    return { ctx, finish };
  };
}
