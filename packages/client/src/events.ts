// The change events (im.events.v1) that the services publish on NATS JetStream: decode a message's
// data with Event.decode.
export * from './gen/im/events/v1/events';
