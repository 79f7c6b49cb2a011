import { isNotFound } from '../aws/errors.ts';
import { unquoteETag } from '../events/text.ts';
import type { FauxqsServer, S3SpyEvent, SpyMessage } from 'fauxqs';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../log/logger.ts';
import {
  buildEventDocument,
  buildObjectCreatedRecord,
  createSequencer,
  writeEventName,
  type ObjectCreatedEventName,
} from '../events/s3-event.ts';

/**
 * Stands in for S3 event notifications, which the emulator does not implement: every
 * object created in one bucket, by whatever client and whichever API, becomes an
 * S3-shaped event document on an SQS queue.
 *
 * Creations are observed through the emulator's message spy. Its S3 events are
 * emitted synchronously inside the request handler, before the response is written,
 * so by the time an uploader sees its upload succeed the bridge already knows about
 * it; that is what lets idle() give tests a race-free "all events are queued" point.
 */

export interface NotificationBridgeOptions {
  server: FauxqsServer;
  /** A client for the same emulator; used to read the size and ETag of new objects. */
  s3: S3Client;
  bucket: string;
  queueName: string;
  region: string;
  /** Like an S3 notification filter rule: only keys starting with this raise events. */
  prefix?: string;
  logger: Logger;
}

export interface NotificationBridge {
  /** Stops observing new creations; events already observed are still delivered. */
  stop(): void;
  /** Resolves once every creation observed so far has been delivered or given up on. */
  idle(): Promise<void>;
}

/** How the object came to be, as far as the spy can tell (see classify). */
type Origin = 'copy' | 'post' | 'write';

interface Creation {
  key: string;
  origin: Origin;
  eventTime: Date;
  sequencer: string;
}

export function startNotificationBridge(options: NotificationBridgeOptions): NotificationBridge {
  const { server, s3, bucket, queueName, region, logger } = options;
  const prefix = options.prefix ?? '';
  const nextSequencer = createSequencer();
  const inFlight = new Set<Promise<void>>();

  let stopped = false;
  // The spy replays its buffer to every new waiter; those are creations from before
  // the bridge existed (or before a reset), which S3 would not have notified either.
  let replayingBuffer = false;
  // Spy events emitted in one synchronous stretch, i.e. by one request handler.
  let currentRun: S3SpyEvent[] | undefined;

  const onSpyMessage = (message: SpyMessage): boolean => {
    // This runs inside the emulator's request handler: a throw here would fail the
    // upload itself, so nothing may escape, and the work is deferred.
    try {
      if (!stopped && !replayingBuffer && isRelevant(message, bucket, prefix)) {
        collect(message);
      }
    } catch (error) {
      logger.error({ err: error }, 'notification bridge failed to record an S3 event');
    }
    // Never "match": the waiter has to stay registered to keep seeing events.
    return false;
  };

  const collect = (event: S3SpyEvent): void => {
    if (currentRun === undefined) {
      const run: S3SpyEvent[] = [];
      currentRun = run;
      // A microtask runs only after the handler's synchronous code has finished, so
      // it sees all the events of the request (Copy and Post each emit two).
      track(
        Promise.resolve().then(() => {
          currentRun = undefined;
          return deliverRun(run);
        }),
      );
    }
    currentRun.push(event);
  };

  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    const forget = (): void => {
      inFlight.delete(work);
    };
    work.then(forget, forget);
  };

  const deliverRun = async (run: S3SpyEvent[]): Promise<void> => {
    // Sequencers are taken here, synchronously and in spy order, so that the order
    // of events for one key follows the order of the writes, not of the HEADs.
    const creations: Creation[] = classify(run).map(({ key, origin, timestamp }) => ({
      key,
      origin,
      eventTime: new Date(timestamp),
      sequencer: nextSequencer(),
    }));
    await Promise.all(creations.map(deliver));
  };

  const deliver = async (creation: Creation): Promise<void> => {
    const { key } = creation;
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      if (head === undefined) {
        // Deleted (or renamed) between the upload and now; there is nothing to scan.
        logger.warn({ bucket, key }, 'object vanished before its creation event was sent; skipping');
        return;
      }
      // A HEAD racing a later overwrite reports the newer object; S3 would report each
      // version. Both events then describe the current object, which is what a scan needs.
      const eTag = unquoteETag(head.ETag) ?? '';
      const record = buildObjectCreatedRecord({
        bucket,
        key,
        size: head.ContentLength ?? 0,
        eTag,
        versionId: head.VersionId,
        eventName: eventNameFor(creation.origin, eTag),
        region,
        eventTime: creation.eventTime,
        sequencer: creation.sequencer,
      });
      server.sendMessage(queueName, JSON.stringify(buildEventDocument([record])));
      logger.debug({ bucket, key, eventName: record.eventName }, 'queued S3 event notification');
    } catch (error) {
      logger.error({ err: error, bucket, key, queueName }, 'failed to queue S3 event notification');
    }
  };

  const observe = (): void => {
    if (stopped) return;
    let waiter: Promise<SpyMessage>;
    replayingBuffer = true;
    try {
      waiter = server.spy.waitForMessage(onSpyMessage);
    } finally {
      replayingBuffer = false;
    }
    // The waiter never resolves. It is rejected when the spy is cleared (server.reset()
    // does that), which also drops the waiter, so observing has to start over.
    waiter.then(
      () => undefined,
      () => {
        if (!stopped) {
          logger.debug('message spy was cleared; re-attaching the notification bridge');
          observe();
        }
      },
    );
  };

  observe();
  logger.debug({ bucket, queueName, prefix }, 'S3 notification bridge started');

  return {
    stop() {
      // The spy offers no way to withdraw a waiter; once stopped it ignores everything
      // and goes away with the server.
      stopped = true;
    },
    async idle() {
      while (inFlight.size > 0) {
        await Promise.allSettled([...inFlight]);
      }
    },
  };
}

function isRelevant(message: SpyMessage, bucket: string, prefix: string): message is S3SpyEvent {
  return (
    message.service === 's3' &&
    (message.status === 'uploaded' || message.status === 'copied') &&
    message.bucket === bucket &&
    message.key.startsWith(prefix)
  );
}

/**
 * Turns the spy events of one request into creations. The emulator signals:
 *   PutObject, CompleteMultipartUpload: uploaded
 *   CopyObject:                         uploaded, copied   (same key)
 *   PostObject:                         uploaded, uploaded (same key)
 * Two separate requests would only share a run if the server handled both in one
 * synchronous stretch; two PutObjects of the same key doing so would be taken for a
 * single POST, which still yields an event for the object as it ends up.
 */
function classify(run: readonly S3SpyEvent[]): Array<{ key: string; origin: Origin; timestamp: number }> {
  const creations: Array<{ key: string; origin: Origin; timestamp: number }> = [];
  for (let i = 0; i < run.length; i++) {
    const event = run[i];
    if (event === undefined || event.status !== 'uploaded') continue;
    const next = run[i + 1];
    let origin: Origin = 'write';
    if (next !== undefined && next.key === event.key) {
      if (next.status === 'copied') origin = 'copy';
      else if (next.status === 'uploaded') origin = 'post';
      if (origin !== 'write') i++;
    }
    creations.push({ key: event.key, origin, timestamp: event.timestamp });
  }
  return creations;
}

function eventNameFor(origin: Origin, eTag: string): ObjectCreatedEventName {
  switch (origin) {
    case 'copy':
      return 'ObjectCreated:Copy';
    case 'post':
      return 'ObjectCreated:Post';
    case 'write':
      return writeEventName(eTag);
  }
}
