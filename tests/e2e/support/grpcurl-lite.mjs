#!/usr/bin/env node
// Stands in for grpcurl where it is not installed (Debian 12 has no package): takes the
// arguments examples/grpcurl/walkthrough.sh uses (`-plaintext -d JSON ADDRESS SERVICE/METHOD`),
// learns the method through the server's reflection, as grpcurl does, and prints the answer as
// proto3 JSON (lowerCamelCase, int64 as strings, bytes as base64, zero values left out).
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const args = process.argv.slice(2);
let data = '{}';
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '-d') data = args[++i];
  else if (args[i] !== '-plaintext') rest.push(args[i]);
}
const [address, target] = rest;
const slash = target.lastIndexOf('/');
const serviceName = target.slice(0, slash);
const methodName = target.slice(slash + 1);

const require = createRequire(import.meta.url);
const reflectionDir = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto',
);
const reflection = grpc.loadPackageDefinition(
  protoLoader.loadSync(join(reflectionDir, 'grpc/reflection/v1/reflection.proto'), {
    keepCase: true,
    includeDirs: [reflectionDir],
  }),
).grpc.reflection.v1.ServerReflection;

/** The FileDescriptorProtos of the file that defines the service and of its imports. */
function descriptors() {
  const client = new reflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo({ deadline: Date.now() + 30_000 });
    call.on('data', (res) => {
      call.end();
      client.close();
      if (res.error_response) reject(new Error(res.error_response.error_message));
      else resolve(res.file_descriptor_response.file_descriptor_proto);
    });
    call.on('error', reject);
    call.write({ file_containing_symbol: serviceName });
  });
}

function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

const files = await descriptors();
// A FileDescriptorSet is field 1 (bytes) repeated: its encoding is the files, each tagged.
const set = Buffer.concat(files.flatMap((f) => [Buffer.from([0x0a]), varint(f.length), f]));
const definition = protoLoader.loadFileDescriptorSetFromBuffer(set, {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  oneofs: true,
});
const method = definition[serviceName]?.[methodName];
if (!method) {
  console.error(`unknown method ${target}`);
  process.exit(1);
}
// Descriptors from reflection keep proto field names; proto3 JSON uses lowerCamelCase.
const rename = (value, key) =>
  Array.isArray(value)
    ? value.map((v) => rename(v, key))
    : value && typeof value === 'object'
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [key(k), rename(v, key)]))
      : value;
const toSnake = (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const toCamel = (k) => k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

const Client = grpc.makeGenericClientConstructor({ [methodName]: method }, serviceName);
const client = new Client(address, grpc.credentials.createInsecure());
client[methodName](
  rename(JSON.parse(data), toSnake),
  { deadline: Date.now() + 30_000 },
  (err, res) => {
    client.close();
    if (err) {
      console.error(`ERROR:\n  Code: ${grpc.status[err.code]}\n  Message: ${err.details}`);
      process.exit(1);
    }
    console.log(JSON.stringify(rename(res, toCamel), null, 2));
  },
);
