import { connect } from '@nats-io/transport-node';
import { consumeEvents, describe } from './consumer';

// NATS_URL, EVENTS_STREAM and CONSUMER_NAME as the services' settings; FILTER_SUBJECT optional.
async function main(): Promise<void> {
  const nc = await connect({
    servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    maxReconnectAttempts: -1,
  });
  const messages = await consumeEvents(
    nc,
    {
      stream: process.env.EVENTS_STREAM ?? 'IM_EVENTS',
      durable: process.env.CONSUMER_NAME ?? 'event-consumer-example',
      filterSubject: process.env.FILTER_SUBJECT,
    },
    (subject, event) => {
      process.stdout.write(`${describe(subject, event)}\n`);
    },
  );
  const stop = () => {
    messages.stop();
    void nc.drain();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await nc.closed();
}

void main();
