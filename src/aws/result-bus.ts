/**
 * The result bus (RESULT_EVENT_BUS): one EventBridge event per verdict, sent with
 * PutEvents ten at a time where traffic allows. Loaded only when a bus is set:
 * the EventBridge client is not part of a worker that does not use it.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { Batcher } from './batcher.ts';
import { common, reportErrors, type ErrorListener, type ServiceConnection } from './clients.ts';
import type { S3Client } from '@aws-sdk/client-s3';

/** One event for the bus; its detail is any JSON object (src/pipeline/result-event.ts builds it). */
export interface ResultEvent {
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  time: Date;
}

// PutEvents takes at most 256 KiB in all; leave room for the request's own framing.
const PUT_EVENTS_BYTES = 240 * 1024;

/** An entry's size as EventBridge counts it: 14 bytes for the time, and the UTF-8 of each text field. */
function entryBytes(event: ResultEvent): number {
  return 14 + Buffer.byteLength(event.source) + Buffer.byteLength(event.detailType) + Buffer.byteLength(JSON.stringify(event.detail));
}

function failuresOf(entries: PutEventsResultEntry[] | undefined, count: number): Map<number, Error> {
  const failures = new Map<number, Error>();
  for (let index = 0; index < count; index += 1) {
    const entry = entries?.[index];
    if (!entry) failures.set(index, new Error('PutEvents gave no result for the entry'));
    else if (entry.ErrorCode || !entry.EventId) {
      failures.set(index, new Error(`${entry.ErrorCode ?? 'Failed'}: ${entry.ErrorMessage ?? 'the event was not accepted'}`));
    }
  }
  return failures;
}

export interface ResultBus {
  /** Resolves once the event's batch was accepted; rejects with its own failure. */
  publish(event: ResultEvent): Promise<void>;
  /** Sends what is waiting and waits for it. */
  drain(): Promise<void>;
  destroy(): void;
}

/** `bus`: the event bus's name or ARN, as PutEvents takes either. */
export function createResultBus(
  connection: ServiceConnection,
  bus: string,
  options: { lingerMs: number; maxSockets?: number; onError?: ErrorListener },
): ResultBus {
  const client = new EventBridgeClient(common(connection, options.maxSockets ?? 16));
  if (options.onError) reportErrors(client.middlewareStack as unknown as S3Client['middlewareStack'], 'EventBridge', options.onError);
  const batcher = new Batcher<ResultEvent>({
    maxEntries: 10,
    lingerMs: options.lingerMs,
    maxBytes: PUT_EVENTS_BYTES,
    sizeOf: entryBytes,
    send: async (events) => {
      const response = await client.send(
        new PutEventsCommand({
          Entries: events.map((event) => ({
            EventBusName: bus,
            Source: event.source,
            DetailType: event.detailType,
            Detail: JSON.stringify(event.detail),
            Time: event.time,
          })),
        }),
      );
      return failuresOf(response.Entries, events.length);
    },
  });
  return {
    publish: (event) => batcher.add(event),
    drain: () => batcher.drain(),
    destroy: () => client.destroy(),
  };
}
