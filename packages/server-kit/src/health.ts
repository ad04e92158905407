import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger';

export type HealthCheck = () => Promise<boolean>;

/** Something a service talks to (mysql, redis, nats), checked on every health round. */
export interface Dependency {
  check: HealthCheck;
  /**
   * Whether the service can serve without it. A required dependency that fails makes the
   * service NOT_SERVING (MySQL for the MySQL-backed services, Redis for presence); an optional
   * one (a cache the service serves around) only shows in dependency_up.
   */
  required: boolean;
}

/** A bare check is a required dependency. */
export type HealthChecks = Record<string, HealthCheck | Dependency>;

const GAUGE = 'dependency_up';

function dependencyGauge(registry: Registry): Gauge<'dependency'> {
  const existing = registry.getSingleMetric(GAUGE);
  if (existing) return existing as Gauge<'dependency'>;
  return new Gauge({
    name: GAUGE,
    help: 'Whether a dependency answered its last health check (1) or not (0)',
    labelNames: ['dependency'],
    registers: [registry],
  });
}

/**
 * grpc.health.v1 for service "" and the service's full name, following its dependencies: a
 * failing required one makes both NOT_SERVING until it passes again. Every dependency's last
 * result is exported as the gauge dependency_up{dependency}.
 */
export class HealthMonitor {
  readonly implementation: HealthImplementation;
  private readonly dependencies = new Map<string, Dependency>();
  private readonly gauge: Gauge<'dependency'> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private status: ServingStatus = 'NOT_SERVING';
  private failing: string[] = [];
  private stopped = false;

  constructor(
    private readonly serviceName: string,
    checks: HealthChecks,
    private readonly logger: Logger,
    registry?: Registry,
  ) {
    this.implementation = new HealthImplementation({
      '': 'NOT_SERVING',
      [serviceName]: 'NOT_SERVING',
    });
    this.gauge = registry ? dependencyGauge(registry) : undefined;
    for (const [name, check] of Object.entries(checks)) {
      this.register(name, typeof check === 'function' ? { check, required: true } : check);
    }
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  /**
   * Adds (or replaces) a dependency, e.g. NATS once events are on. It counts from the next
   * round; until then the gauge shows it down.
   */
  register(name: string, dependency: Dependency): void {
    this.dependencies.set(name, dependency);
    this.gauge?.set({ dependency: name }, 0);
  }

  /** Runs every check now and publishes the result; true when serving. */
  async check(): Promise<boolean> {
    const results = await Promise.all(
      [...this.dependencies].map(async ([name, dependency]) => {
        const ok = await dependency.check().catch(() => false);
        this.gauge?.set({ dependency: name }, ok ? 1 : 0);
        return { name, ok, required: dependency.required };
      }),
    );
    const failing = results.filter((r) => !r.ok);
    const serving = !failing.some((r) => r.required);
    this.set(
      serving ? 'SERVING' : 'NOT_SERVING',
      failing.map((r) => r.name),
    );
    return serving;
  }

  start(intervalMs: number): void {
    const loop = () => {
      this.timer = setTimeout(() => {
        void this.check().finally(() => {
          if (!this.stopped) loop();
        });
      }, intervalMs);
      this.timer.unref();
    };
    loop();
  }

  /** Stops checking and reports NOT_SERVING (shutdown: load balancers stop sending). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.set('NOT_SERVING', []);
  }

  private set(status: ServingStatus, failing: string[]) {
    if (status !== this.status) {
      if (status === 'SERVING') this.logger.info('health: serving', { degraded: failing });
      else if (!this.stopped) this.logger.warn('health: not serving', { failing });
    } else if (status === 'SERVING' && failing.join() !== this.failing.join()) {
      if (failing.length > 0) this.logger.warn('health: serving degraded', { failing });
      else this.logger.info('health: every dependency is back');
    }
    this.failing = failing;
    this.status = status;
    this.implementation.setStatus('', status);
    this.implementation.setStatus(this.serviceName, status);
  }
}
