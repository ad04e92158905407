import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from './logger';

export type HealthCheck = () => Promise<boolean>;

/**
 * grpc.health.v1 for service "" and the service's full name, following its dependencies: one
 * failing check makes both NOT_SERVING until it passes again.
 */
export class HealthMonitor {
  readonly implementation: HealthImplementation;
  private timer: NodeJS.Timeout | undefined;
  private status: ServingStatus = 'NOT_SERVING';
  private stopped = false;

  constructor(
    private readonly serviceName: string,
    private readonly checks: Record<string, HealthCheck>,
    private readonly logger: Logger,
  ) {
    this.implementation = new HealthImplementation({
      '': 'NOT_SERVING',
      [serviceName]: 'NOT_SERVING',
    });
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  /** Runs every check now and publishes the result. */
  async check(): Promise<boolean> {
    const results = await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        const ok = await check().catch(() => false);
        return [name, ok] as const;
      }),
    );
    const failing = results.filter(([, ok]) => !ok).map(([name]) => name);
    this.set(failing.length === 0 ? 'SERVING' : 'NOT_SERVING', failing);
    return failing.length === 0;
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
      if (status === 'SERVING') this.logger.info('health: serving');
      else if (!this.stopped) this.logger.warn('health: not serving', { failing });
    }
    this.status = status;
    this.implementation.setStatus('', status);
    this.implementation.setStatus(this.serviceName, status);
  }
}
