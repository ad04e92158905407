import type { Config } from '@im-repo/config';
import type { Sequelize } from '@im-repo/db';
import { Outbox, type OutboxLogger } from '@im-repo/outbox';
import type { Registry } from 'prom-client';
import { EventPublisher, type PublisherOptions } from './publisher';

/**
 * The service's publisher when events are on (EVENTS_NATS_URL set), else undefined: events off
 * cost nothing, no outbox row is written. Throws StreamMisfitError when the stream exists but
 * does not fit (the service must not start).
 */
export async function openEvents(
  config: Config,
  name: string,
  logger: PublisherOptions['logger'],
  registry?: Registry,
): Promise<EventPublisher | undefined> {
  const events = config.events;
  if (events.nats_url === '') return undefined;
  return EventPublisher.open(
    {
      natsUrl: events.nats_url,
      stream: events.stream,
      subjectPrefix: events.subject_prefix,
      maxAgeHours: events.max_age_hours,
    },
    { name: `im-repo-${name}`, logger, registry },
  );
}

/**
 * The outbox of a service whose outbox holds only change events (user, conversation): made
 * only while events are on. Rows publish in milliseconds, so a short interval and lease.
 */
export function eventOutbox(
  db: Sequelize,
  table: string,
  options: { logger: OutboxLogger; registry?: Registry },
): Outbox {
  return new Outbox({
    db,
    table,
    leaseMs: 10_000,
    intervalMs: 500,
    backoffBaseMs: 250,
    backoffMaxMs: 2000,
    logger: options.logger,
    registry: options.registry,
  });
}
