/** The parts of a service's GrpcServer the harness needs (structural: no server-kit import). */
interface Listenable {
  listen(port: number, host?: string): Promise<number>;
  shutdown(): Promise<void>;
}

export interface InProcess<D, S> {
  deps: D;
  server: S;
  port: number;
  /** host:port to dial. */
  address: string;
  /** Drains the server, then closes the deps' pools. */
  stop(): Promise<void>;
}

/**
 * Starts one service in this process, the way its main.ts does: open(deps) then create(server)
 * then listen, on a free port unless given one (a restart on its old address).
 */
export async function startInProcess<D extends { close(): Promise<void> }, S extends Listenable>(
  open: () => Promise<D>,
  create: (deps: D) => S,
  port = 0,
): Promise<InProcess<D, S>> {
  const deps = await open();
  const server = create(deps);
  let bound: number;
  try {
    bound = await server.listen(port, '127.0.0.1');
  } catch (err) {
    // Its pools, timers and drainers would keep the test process alive after the failure.
    await server.shutdown().catch(() => undefined);
    await deps.close().catch(() => undefined);
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    deps,
    server,
    port: bound,
    address: `127.0.0.1:${bound}`,
    stop() {
      stopped ??= server.shutdown().then(() => deps.close());
      return stopped;
    },
  };
}

/** Deadline of a test client's calls: generous, since CI runs every suite at once on two cores. */
export const TEST_CLIENT_TIMEOUT_MS = 30_000;

/**
 * Adds a client of the running service (made by a proto client factory) with the test deadline;
 * stop() closes it before stopping the service.
 */
export function withClient<
  R extends { address: string; stop(): Promise<void> },
  C extends { close(): void },
>(
  running: R,
  makeClient: (address: string, options: { timeoutMs: number }) => C,
): R & { client: C } {
  const client = makeClient(running.address, { timeoutMs: TEST_CLIENT_TIMEOUT_MS });
  return {
    ...running,
    client,
    async stop() {
      client.close();
      await running.stop();
    },
  };
}
