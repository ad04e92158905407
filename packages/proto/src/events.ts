// The change events (im.events.v1): messages only, published on NATS JetStream, no service.
export * from './gen/im/events/v1/events';
