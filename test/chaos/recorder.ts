/**
 * Everything the emulator did during a chaos run, as it happened: every message
 * sent to a queue (the validation queue above all: nothing infected may ever be
 * sent there), every SNS publish, every object written to or deleted from a
 * bucket, every message moved to a dead-letter queue.
 *
 * It listens to the emulator's message spy with a waiter that never matches, as the
 * notification bridge does, so it sees every event once, whatever the spy's buffer
 * size; draining queues instead could miss a message that was sent twice and
 * received once. Events from before it was attached are ignored.
 */
import type { FauxqsServer, SpyMessage } from 'fauxqs';

export interface RecorderNames {
  unprocessedBucket: string;
  quarantineBucket: string;
  inboundQueue: string;
  validationQueue: string;
  notificationQueue: string;
  topicName: string;
}

export interface Forward {
  key: string | undefined;
  status: string | undefined;
  body: string;
}

export interface Notification {
  key: string | undefined;
  report: Record<string, unknown> | undefined;
  body: string;
}

export interface Recording {
  /** Messages sent to the validation queue, in order. */
  forwards: Forward[];
  /** Messages published to the topic, in order. */
  notifications: Notification[];
  /** Deliveries of the topic to its subscribed queue. */
  inboxDeliveries: number;
  /** Event documents queued on the inbound queue (by the notification bridge), per decoded key. */
  inboundEvents: Map<string, number>;
  /** Inbound messages deleted after their work was done. */
  inboundConsumed: number;
  /** Messages the inbound queue's redrive policy moved to the dead-letter queue. */
  deadLettered: Array<{ messageId: string; keys: string[] }>;
  /** Writes (PutObject or CopyObject) per quarantine key. */
  quarantineWrites: Map<string, number>;
  /** CopyObject into the quarantine bucket, per key. */
  quarantineCopies: Map<string, number>;
  /** Deletions from the unprocessed bucket, per key (only of objects that existed). */
  unprocessedDeletes: Map<string, number>;
  /** Objects written to the unprocessed bucket, per key (the uploads). */
  unprocessedWrites: Map<string, number>;
  events: number;
}

export interface Recorder {
  recording: Recording;
  stop(): void;
}

/** Keys in event documents are form-encoded, as S3 writes them. */
export function decodeEventKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The decoded keys of the records of an S3 event document (possibly inside an SNS envelope). */
export function eventKeys(body: string): string[] {
  try {
    let document = JSON.parse(body) as { Records?: unknown; Message?: unknown };
    if (typeof document.Message === 'string') document = JSON.parse(document.Message) as typeof document;
    if (!Array.isArray(document.Records)) return [];
    return document.Records.map((record: { s3?: { object?: { key?: unknown } } }) =>
      typeof record?.s3?.object?.key === 'string' ? decodeEventKey(record.s3.object.key) : undefined,
    ).filter((key): key is string => key !== undefined);
  } catch {
    return [];
  }
}

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

export function startRecorder(server: FauxqsServer, names: RecorderNames): Recorder {
  const recording: Recording = {
    forwards: [],
    notifications: [],
    inboxDeliveries: 0,
    inboundEvents: new Map(),
    inboundConsumed: 0,
    deadLettered: [],
    quarantineWrites: new Map(),
    quarantineCopies: new Map(),
    unprocessedDeletes: new Map(),
    unprocessedWrites: new Map(),
    events: 0,
  };
  let replaying = false;
  let stopped = false;

  const record = (message: SpyMessage): void => {
    recording.events += 1;
    if (message.service === 'sqs') {
      if (message.queueName === names.validationQueue && message.status === 'published') {
        const [key] = eventKeys(message.body);
        const status = message.messageAttributes['status']?.StringValue;
        recording.forwards.push({ key, status, body: message.body });
      } else if (message.queueName === names.notificationQueue && message.status === 'published') {
        recording.inboxDeliveries += 1;
      } else if (message.queueName === names.inboundQueue) {
        if (message.status === 'published') for (const key of eventKeys(message.body)) bump(recording.inboundEvents, key);
        else if (message.status === 'consumed') recording.inboundConsumed += 1;
        else if (message.status === 'dlq') recording.deadLettered.push({ messageId: message.messageId, keys: eventKeys(message.body) });
      }
    } else if (message.service === 'sns') {
      if (message.topicName === names.topicName && message.status === 'published') {
        let report: Record<string, unknown> | undefined;
        try {
          report = JSON.parse(message.body) as Record<string, unknown>;
        } catch {
          report = undefined;
        }
        recording.notifications.push({ key: typeof report?.['key'] === 'string' ? report['key'] : undefined, report, body: message.body });
      }
    } else if (message.service === 's3') {
      if (message.bucket === names.quarantineBucket) {
        if (message.status === 'uploaded') bump(recording.quarantineWrites, message.key);
        else if (message.status === 'copied') bump(recording.quarantineCopies, message.key);
      } else if (message.bucket === names.unprocessedBucket) {
        if (message.status === 'deleted') bump(recording.unprocessedDeletes, message.key);
        else if (message.status === 'uploaded') bump(recording.unprocessedWrites, message.key);
      }
    }
  };

  const onMessage = (message: SpyMessage): boolean => {
    if (!replaying && !stopped) {
      try {
        record(message);
      } catch {
        // Never fail the emulator's request handler over a recording problem.
      }
    }
    return false;
  };

  const attach = (): void => {
    replaying = true;
    let waiter: Promise<SpyMessage>;
    try {
      waiter = server.spy.waitForMessage(onMessage);
    } finally {
      replaying = false;
    }
    // Rejected only when the spy is cleared (server.reset()), which drops the waiter.
    waiter.then(
      () => undefined,
      () => {
        if (!stopped) attach();
      },
    );
  };
  attach();

  return {
    recording,
    stop() {
      stopped = true;
    },
  };
}
