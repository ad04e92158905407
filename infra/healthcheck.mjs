#!/usr/bin/env node
// The image's HEALTHCHECK: asks the service in this container for grpc.health.v1 Health/Check
// (service "") and exits 0 only on SERVING. A node script rather than grpc_health_probe: the
// build needs no binary fetched from outside the npm registry, the script reads the same config
// as the service (port, host, TLS), and tests/deploy runs it against the built service exactly
// as the image does. It sits next to the service's package.json (/app in the image).
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const TIMEOUT_MS = 2000;
const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

const pkgUrl = new URL('package.json', import.meta.url);
const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8'));
const service = /^@im-repo\/(.+)-service$/.exec(pkg.name)?.[1];
if (!service) {
  console.error(`healthcheck: ${pkgUrl.pathname} is not an im-repo service package`);
  process.exit(2);
}

// Loaded through server-kit, which every service depends on, so this script needs nothing of
// its own and works for any service's node_modules layout.
const kitRequire = createRequire(createRequire(pkgUrl).resolve('@im-repo/server-kit'));
const grpc = kitRequire('@grpc/grpc-js');
const { loadConfig } = kitRequire('@im-repo/config');

let config;
try {
  config = loadConfig(service);
} catch (err) {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
}

const { host, port } = config.server;
const wildcard = host === '0.0.0.0' || host === '::' || host === '';
const target = wildcard
  ? `127.0.0.1:${port}`
  : host.includes(':')
    ? `[${host}]:${port}`
    : `${host}:${port}`;

function credentials(tls) {
  if (!tls.cert) return grpc.credentials.createInsecure();
  // The probe talks to its own process over loopback: the server's name and chain prove nothing
  // here, and the service's certificate rarely names 127.0.0.1. The client certificate is still
  // presented, since a mutual-TLS server refuses calls without one.
  const read = (file) => (file ? readFileSync(file) : null);
  return grpc.credentials.createSsl(read(tls.ca), read(tls.key), read(tls.cert), {
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
}

// HealthCheckRequest{service: ""} encodes to zero bytes; the reply is field 1, a varint enum.
function decodeStatus(bytes) {
  let i = 0;
  let status = 0;
  while (i < bytes.length) {
    const tag = bytes[i++];
    if (tag === 0x08) {
      status = bytes[i++] & 0x7f;
    } else {
      break;
    }
  }
  return STATUS[status] ?? `status ${status}`;
}

const client = new grpc.Client(target, credentials(config.tls));
client.makeUnaryRequest(
  '/grpc.health.v1.Health/Check',
  (request) => request,
  (bytes) => bytes,
  Buffer.alloc(0),
  { deadline: Date.now() + TIMEOUT_MS },
  (err, reply) => {
    client.close();
    if (err) {
      console.error(`healthcheck: ${target}: ${err.message}`);
      process.exit(1);
    }
    const status = decodeStatus(reply);
    console.log(`${service} ${target}: ${status}`);
    process.exit(status === 'SERVING' ? 0 : 1);
  },
);
