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
 * Starts one service in this process on a free port, the way its main.ts does:
 * open(deps) then create(server) then listen.
 */
export async function startInProcess<D extends { close(): Promise<void> }, S extends Listenable>(
  open: () => Promise<D>,
  create: (deps: D) => S,
): Promise<InProcess<D, S>> {
  const deps = await open();
  const server = create(deps);
  const port = await server.listen(0, '127.0.0.1');
  let stopped: Promise<void> | undefined;
  return {
    deps,
    server,
    port,
    address: `127.0.0.1:${port}`,
    stop() {
      stopped ??= server.shutdown().then(() => deps.close());
      return stopped;
    },
  };
}
