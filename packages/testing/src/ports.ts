import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports are handed out below the kernel's ephemeral range: a port from listen(0) is an ephemeral
 * one, and any outgoing connection (of this or a parallel test process) could take it in the
 * seconds between the pick and the service's bind (seen in CI as EADDRINUSE).
 */
const FIRST = 20_000;
const ephemeralLow = (): number => {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > FIRST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
};
const LAST = ephemeralLow();
// A random start per process, then in turn: parallel processes rarely meet, and one process
// never hands out a port twice before it wraps.
let next = FIRST + Math.floor(Math.random() * (LAST - FIRST));

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port that was free a moment ago and nothing listens on now. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = next;
    next = next + 1 >= LAST ? FIRST : next + 1;
    if (await bindable(port)) return port;
  }
  // Everything below the range taken: an ephemeral port after all.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
