import { AsyncLocalStorage } from 'node:async_hooks';
import { Metadata } from '@grpc/grpc-js';
import type { Logger } from './logger';

export const REQUEST_ID_HEADER = 'x-request-id';

/** What a handler knows about the call it serves. */
export interface CallContext {
  requestId: string;
  /** Full method path, e.g. /im.user.v1.UserService/GetUser. */
  method: string;
  metadata: Metadata;
  /** Aborted when the client cancels, the deadline passes, or the server shuts down. */
  signal: AbortSignal;
  /** A child logger carrying rpc and request_id. */
  logger: Logger;
}

const storage = new AsyncLocalStorage<CallContext>();

export function runInContext<T>(ctx: CallContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): CallContext | undefined {
  return storage.getStore();
}

/** Metadata that carries the current request id on to peers. */
export function outgoingMetadata(): Metadata | undefined {
  const ctx = storage.getStore();
  if (!ctx) return undefined;
  const md = new Metadata();
  md.set(REQUEST_ID_HEADER, ctx.requestId);
  return md;
}
