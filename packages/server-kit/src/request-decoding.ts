import { join } from 'node:path';
import { InvalidArgumentError } from '@im-repo/errors';
import { protoDir, type ServiceInfo } from '@im-repo/proto';
import protobuf from 'protobufjs';

// A request that fails to decode (malformed bytes, an int64 beyond 2^53, which ts-proto refuses
// to turn into a number) reaches the handler wrapper marked, so the caller gets INVALID_ARGUMENT
// naming the field instead of grpc-js's INTERNAL.
const DECODE_FAILED = Symbol('decode failed');

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** The path of the first int64 beyond 2^53 in a decoded message (`records[3].seq`). */
function unsafeInt64Path(
  type: protobuf.Type,
  value: Record<string, unknown>,
  prefix: string,
): string | undefined {
  for (const field of type.fieldsArray) {
    const raw = value[field.name];
    if (raw === undefined || raw === null) continue;
    const items = field.repeated ? (raw as unknown[]) : [raw];
    for (let i = 0; i < items.length; i++) {
      const path = `${prefix}${field.name}${field.repeated ? `[${i}]` : ''}`;
      const item = items[i];
      if (INT64.has(field.type)) {
        const n = BigInt(String(item));
        if (n > MAX || n < -MAX) return path;
      } else if (field.resolvedType instanceof protobuf.Type) {
        const found = unsafeInt64Path(
          field.resolvedType,
          item as Record<string, unknown>,
          `${path}.`,
        );
        if (found) return found;
      }
    }
  }
  return undefined;
}

function loadRoot(service: ServiceInfo): protobuf.Root {
  const root = new protobuf.Root();
  // Imports resolve inside the shipped contract; google/protobuf types are bundled.
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(service.protoFile, { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * Wraps each method of a service definition: its requestDeserialize so a failed decode becomes
 * a marker that checkDecoded() turns into INVALID_ARGUMENT with the offending field, and its
 * responseSerialize so an answer the handler already holds encoded (a Buffer) passes through.
 */
export function tolerantDefinition(service: ServiceInfo): Record<string, unknown> {
  let root: protobuf.Root | undefined;
  const definition: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(service.definition)) {
    const method = def as {
      path: string;
      requestDeserialize: (buf: Buffer) => unknown;
      responseSerialize: (value: unknown) => Buffer;
    };
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    definition[name] = {
      ...method,
      // A handler may answer bytes it already holds encoded (preEncoded): sent as they are.
      responseSerialize: (value: unknown) =>
        Buffer.isBuffer(value) ? value : method.responseSerialize(value),
      requestDeserialize(buf: Buffer) {
        try {
          return method.requestDeserialize(buf);
        } catch {
          let field = 'request';
          try {
            root ??= loadRoot(service);
            const type = root.lookupService(service.name).methods[rpc]!.resolvedRequestType!;
            const decoded = type.toObject(type.decode(buf), { longs: String });
            field = unsafeInt64Path(type, decoded, '') ?? 'request';
          } catch {
            // Not even protobuf: the request as a whole is malformed.
          }
          return { [DECODE_FAILED]: field };
        }
      },
    };
  }
  return definition;
}

export function checkDecoded(request: unknown): void {
  if (typeof request === 'object' && request !== null && DECODE_FAILED in request) {
    const field = (request as { [DECODE_FAILED]: string })[DECODE_FAILED];
    throw new InvalidArgumentError(
      field,
      field === 'request'
        ? 'the request could not be decoded'
        : `${field} is out of range (at most 2^53 - 1)`,
    );
  }
}
