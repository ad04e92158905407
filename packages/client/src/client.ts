import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  credentials as grpcCredentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import type { ServiceInfo } from './service-info';

/** What every method of a ts-proto service definition looks like to a caller. */
interface AnyMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

/** A ts-proto message type, as far as filling in a partial request goes. */
interface PartialCodec {
  fromPartial(value: unknown): unknown;
}

type RequestOf<M> = M extends { requestSerialize: (value: infer Req) => Buffer } ? Req : never;
type ResponseOf<M> = M extends { responseDeserialize: (value: Buffer) => infer Res } ? Res : never;

export interface CallOverrides {
  /** Milliseconds from now; replaces the client's default deadline. */
  timeoutMs?: number;
  /** Extra metadata for this call, merged over the client's metadata hook. */
  metadata?: Metadata;
  signal?: AbortSignal;
}

/** A promise-returning client for a ts-proto grpc-js service definition. */
export type PromiseClient<D> = {
  [K in keyof D]: D[K] extends { responseStream: true }
    ? (
        request: RequestOf<D[K]>,
        overrides?: CallOverrides,
      ) => ClientReadableStream<ResponseOf<D[K]>>
    : (request: RequestOf<D[K]>, overrides?: CallOverrides) => Promise<ResponseOf<D[K]>>;
} & { close(): void; raw: Client };

export interface ClientOptions {
  credentials?: ChannelCredentials;
  /** Default deadline of every unary call, in ms. */
  timeoutMs?: number;
  /** Attempts (first try included) for a call that fails with UNAVAILABLE; 1 disables retries. */
  maxAttempts?: number;
  /** Metadata added to every call (e.g. the request id of the call being served). */
  metadata?: () => Metadata | undefined;
  channelOptions?: ChannelOptions;
}

export const DEFAULT_TIMEOUT_MS = 3000;

/**
 * The one way to call an im-repo service (the services use it for their peers too): every call
 * has a deadline, and UNAVAILABLE is retried with backoff by grpc-js itself (service-config retry
 * policy), for idempotent rpcs only: the service's nonIdempotent methods are never retried.
 */
export function createClient<D extends object>(
  service: ServiceInfo<D>,
  address: string,
  options: ClientOptions = {},
): PromiseClient<D> {
  const maxAttempts = Math.max(1, Math.min(options.maxAttempts ?? 3, 5));
  // round_robin spreads calls over every address the name resolves to (a headless Kubernetes
  // Service, several A records); with one address it behaves like pick_first.
  const serviceConfig = {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [
      {
        name: [{ service: service.name }],
        ...(maxAttempts > 1
          ? {
              retryPolicy: {
                maxAttempts,
                initialBackoff: '0.05s',
                maxBackoff: '0.5s',
                backoffMultiplier: 2,
                retryableStatusCodes: ['UNAVAILABLE'],
              },
            }
          : {}),
      },
      // A more specific name wins in grpc's service config: these methods get no retry policy.
      ...(service.nonIdempotent?.length
        ? [{ name: service.nonIdempotent.map((method) => ({ service: service.name, method })) }]
        : []),
    ],
  };
  const Ctor = makeGenericClientConstructor(
    service.definition as unknown as Parameters<typeof makeGenericClientConstructor>[0],
    service.name,
  );
  // A comma list of IPv4 host:port (config's peer address) names replicas on fixed ports.
  const target = address.includes(',') ? `ipv4:${address}` : address;
  const client = new Ctor(target, options.credentials ?? grpcCredentials.createInsecure(), {
    'grpc.service_config': JSON.stringify(serviceConfig),
    'grpc.keepalive_time_ms': 30_000,
    'grpc.enable_channelz': 0,
    ...options.channelOptions,
  });
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const callArgs = (overrides: CallOverrides | undefined): [Metadata, CallOptions] => {
    const metadata = options.metadata?.()?.clone() ?? new Metadata();
    if (overrides?.metadata) metadata.merge(overrides.metadata);
    const deadline = Date.now() + (overrides?.timeoutMs ?? defaultTimeout);
    return [metadata, { deadline }];
  };

  const methods: Record<string, unknown> = { close: () => client.close(), raw: client };
  for (const [name, raw] of Object.entries(service.definition)) {
    const method = raw as AnyMethod;
    const encode = method.requestSerialize as (value: unknown) => Buffer;
    // With the message types at hand, a request may leave fields out (as plain JavaScript
    // callers do): fromPartial fills in the defaults the encoder expects.
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    const requestType = service.messages?.[`${rpc}Request`] as PartialCodec | undefined;
    const serialize = requestType?.fromPartial
      ? (value: unknown) => encode(requestType.fromPartial(value))
      : encode;
    if (method.responseStream) {
      methods[name] = (request: unknown, overrides?: CallOverrides) => {
        const metadata = options.metadata?.()?.clone() ?? new Metadata();
        if (overrides?.metadata) metadata.merge(overrides.metadata);
        const callOptions: CallOptions = overrides?.timeoutMs
          ? { deadline: Date.now() + overrides.timeoutMs }
          : {};
        const stream = client.makeServerStreamRequest(
          method.path,
          serialize,
          method.responseDeserialize,
          request,
          metadata,
          callOptions,
        );
        overrides?.signal?.addEventListener('abort', () => stream.cancel(), { once: true });
        return stream;
      };
    } else {
      methods[name] = (request: unknown, overrides?: CallOverrides) =>
        new Promise((resolve, reject) => {
          const [metadata, callOptions] = callArgs(overrides);
          const call = client.makeUnaryRequest(
            method.path,
            serialize,
            method.responseDeserialize,
            request,
            metadata,
            callOptions,
            (error: ServiceError | null, response?: unknown) =>
              error ? reject(error) : resolve(response),
          );
          overrides?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        });
    }
  }
  return methods as PromiseClient<D>;
}
