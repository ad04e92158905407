import { createTestEnvironment, type TestEnvironment } from './environment';

interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * What one test suite starts: a fresh database and key prefix, the service's stand-in peers, and
 * any number of service instances on them. Everything is stopped newest first (a service before
 * the peers and database it uses), and only what did start, so a suite whose setup failed half
 * way still cleans up. Mocha-free: each service's test harness registers `stop` as an after hook.
 */
export interface ServiceSuite<Peers, Service, Overrides> {
  /** The environment and peers, for suites that seed the peers before starting a service. */
  open(): Promise<{ env: TestEnvironment; peers: Peers }>;
  /** Another instance on the same environment and peers (opened first if need be). */
  service(overrides?: Overrides): Promise<Service>;
  /** `open` and one instance: the opening of most suites. */
  start(overrides?: Overrides): Promise<{ env: TestEnvironment; peers: Peers; svc: Service }>;
  /** Stops `thing` with the rest, in the same newest-first order; returns it. */
  own<T>(thing: T, stop: (thing: T) => Promise<unknown>): T;
  /** Stops everything started; every stop runs even if one fails, the first failure is thrown. */
  stop(): Promise<void>;
}

export interface ServiceSuiteSpec<Peers, Service, Overrides> {
  /** The database / key-prefix label, as `createTestEnvironment` takes it. */
  label: string;
  environment?: { mysql?: boolean };
  startPeers(): Promise<Peers>;
  startService(env: TestEnvironment, peers: Peers, overrides?: Overrides): Promise<Service>;
}

export function createServiceSuite<
  Peers extends Stoppable | undefined,
  Service extends Stoppable,
  Overrides,
>(spec: ServiceSuiteSpec<Peers, Service, Overrides>): ServiceSuite<Peers, Service, Overrides> {
  const stops: (() => Promise<unknown>)[] = [];
  // The promise, not its result, so instances started together share one environment.
  let opened: Promise<{ env: TestEnvironment; peers: Peers }> | undefined;

  const own = <T>(thing: T, stop: (thing: T) => Promise<unknown>): T => {
    stops.push(() => stop(thing));
    return thing;
  };
  const open = () =>
    (opened ??= (async () => {
      const env = own(await createTestEnvironment(spec.label, spec.environment), (e) =>
        e.teardown(),
      );
      const peers = own(await spec.startPeers(), async (p) => p?.stop());
      return { env, peers };
    })());
  const service = async (overrides?: Overrides) => {
    const { env, peers } = await open();
    return own(await spec.startService(env, peers, overrides), (s) => s.stop());
  };

  return {
    open,
    service,
    own,
    async start(overrides) {
      const { env, peers } = await open();
      return { env, peers, svc: await service(overrides) };
    },
    async stop() {
      let first: unknown;
      let failed = false;
      for (const stop of stops.splice(0).reverse()) {
        try {
          await stop();
        } catch (err) {
          if (!failed) [first, failed] = [err, true];
        }
      }
      opened = undefined;
      if (failed) throw first;
    },
  };
}
