export {
  decodeEventBatch,
  eventBatchRow,
  eventHead,
  eventRow,
  EVENT_BATCH_KEY,
  EVENT_BATCH_TOPIC,
  EVENTS_TOPIC,
  newEvent,
} from './event-row';
export type { EventHead, KeyedEvent } from './event-row';
export { EventPublisher } from './publisher';
export type { EventsSettings, PublisherOptions } from './publisher';
export { checkStream, ensureStream, MIN_DUPLICATE_WINDOW_MS, StreamMisfitError } from './stream';
export type { StreamSettings } from './stream';
export { EVENT_KINDS, eventSubject, PATH_BY_FIELD, streamSubject } from './subjects';
export type { EventCase } from './subjects';
export { eventOutbox, openEvents } from './open';
export { monotonicUlids, newUlid, pooledRandom } from './ids';
