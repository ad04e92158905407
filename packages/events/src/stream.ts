import {
  JetStreamApiError,
  StorageType,
  type JetStreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { streamSubject } from './subjects';

/** The shortest duplicate window that still drops a re-publish after a crash and restart. */
export const MIN_DUPLICATE_WINDOW_MS = 2 * 60_000;

export interface StreamSettings {
  stream: string;
  subjectPrefix: string;
  maxAgeHours: number;
}

/** A stream that exists but cannot hold our events safely: the service refuses to start. */
export class StreamMisfitError extends Error {
  constructor(stream: string, problem: string) {
    super(`events stream ${stream} does not fit: ${problem}`);
    this.name = 'StreamMisfitError';
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.status === 404;
}

/**
 * Creates the stream when missing (subjects `<prefix>.>`, file storage, max age, a 2 min
 * duplicate window); an existing one is used as it is once its subjects and duplicate window
 * are checked. Several replicas starting at once may race the create: the loser checks.
 */
export async function ensureStream(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  const info = await jsm.streams.info(settings.stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (info) return checkStream(info, settings);
  try {
    await jsm.streams.add({
      name: settings.stream,
      subjects: [streamSubject(settings.subjectPrefix)],
      storage: StorageType.File,
      max_age: nanos(settings.maxAgeHours * 3_600_000),
      duplicate_window: nanos(MIN_DUPLICATE_WINDOW_MS),
    });
  } catch (err) {
    const raced = await jsm.streams.info(settings.stream).catch(() => undefined);
    if (!raced) throw err;
    checkStream(raced, settings);
  }
}

/** Throws StreamMisfitError unless the stream takes every subject under the prefix and dedupes long enough. */
export function checkStream(info: StreamInfo, settings: StreamSettings): void {
  const wanted = streamSubject(settings.subjectPrefix);
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((s) => s === wanted || s === '>')) {
    throw new StreamMisfitError(
      settings.stream,
      `its subjects [${subjects.join(', ')}] do not include ${wanted}`,
    );
  }
  const windowMs = (info.config.duplicate_window ?? 0) / 1e6;
  if (windowMs < MIN_DUPLICATE_WINDOW_MS) {
    throw new StreamMisfitError(
      settings.stream,
      `its duplicate window is ${windowMs} ms, at least ${MIN_DUPLICATE_WINDOW_MS} ms is needed for exactly-once events`,
    );
  }
}
