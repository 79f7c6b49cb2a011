/**
 * The rescan loop: take the current objects a page at a time (a listing in key
 * order, or an inventory report in its row order), decide each (plan.ts), and
 * queue the events in batches, under the rate, until the objects end, a send
 * fails for good, or the run is interrupted. Whatever happens it knows the
 * position to resume after (a key, or an inventory row): everything up to it was
 * queued, skipped or filtered out.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ListingPage } from '../aws/listing.ts';
import { sendMessageBatch, type BatchFailure } from '../aws/send-batch.ts';
import { createSequencer } from '../events/s3-event.ts';
import { realClock, type Clock } from '../shared/time.ts';
import { RESCAN_ATTRIBUTES } from '../aws/queue.ts';
import { decide, type RescanRules } from './plan.ts';
import { batchSizeFor, RateLimiter } from './rate-limiter.ts';

export interface RescanStats {
  /** Current objects listed (after --start-after). */
  listed: number;
  /** Events SQS accepted (with --dry-run: events that would have been queued). */
  queued: number;
  /** Keys the worker would reject, by reason. */
  skipped: Map<string, number>;
  skippedTotal: number;
  /** Objects last modified before --since. */
  older: number;
  /** Bytes of the objects queued (with --dry-run: that would have been). */
  bytes: number;
  /** Events queued by source (KeyRules.source), for sources that name themselves. */
  queuedBySource: Map<string, number>;
  /** 0..1: how far through its objects the run is, when the source of objects can tell. */
  fraction: number | undefined;
}

/** A page of objects, and how far through all of them it reaches (0..1) when that is known. */
export type ObjectPage = ListingPage & { fraction?: number | undefined };

/** Stats before the first object. */
export function emptyStats(): RescanStats {
  return { listed: 0, queued: 0, skipped: new Map(), skippedTotal: 0, older: 0, bytes: 0, queuedBySource: new Map(), fraction: undefined };
}

export interface RescanOptions {
  /** The objects: listCurrentObjects (src/aws/listing.ts) or readInventory (src/aws/inventory.ts), already after startAfter. */
  pages: AsyncIterable<ObjectPage>;
  /** Absent with dryRun. */
  sqs?: SQSClient;
  queueUrl?: string;
  /** The position the pages start after (--start-after), the resume point until something is finished. */
  startAfter?: string;
  rules: RescanRules;
  dryRun: boolean;
  /** Messages per second; undefined: as fast as SQS takes them. */
  rate?: number;
  signal: AbortSignal;
  clock?: Clock;
  /** Called after every object and every batch (cheap: the progress line draws only when due). */
  onProgress?: (stats: RescanStats) => void;
  onSkip?: (key: string, reason: string) => void;
}

export type RescanOutcome =
  | { kind: 'done' }
  | { kind: 'interrupted' }
  | { kind: 'failed'; error: unknown }
  /** Entries SQS would not take even after retries; nothing after them was attempted. */
  | { kind: 'rejected'; failures: Array<BatchFailure & { key: string }> };

export interface RescanResult {
  stats: RescanStats;
  outcome: RescanOutcome;
  /** Every key up to and including this one is finished; undefined: none is (or only --start-after). */
  resumeAfter: string | undefined;
}

interface Pending {
  key: string;
  body: string;
  size: number;
  source: string | undefined;
  /** The last key listed before this one: where to resume if this one is not sent. */
  before: string | undefined;
}

class Interrupted extends Error {}

function isAbort(error: unknown): boolean {
  return error instanceof Interrupted || (error as { name?: unknown } | null)?.name === 'AbortError';
}

export async function rescan(options: RescanOptions): Promise<RescanResult> {
  const { signal } = options;
  const clock = options.clock ?? realClock;
  const stats = emptyStats();
  const batchSize = batchSizeFor(options.rate);
  const limiter = options.rate !== undefined && !options.dryRun ? new RateLimiter(options.rate, batchSize, clock) : undefined;
  const sequencer = createSequencer();
  let batch: Pending[] = [];
  let lastListed: string | undefined = options.startAfter;
  let resumeAfter: string | undefined = options.startAfter;
  const progress = () => options.onProgress?.(stats);
  const counted = (item: Pending) => {
    stats.bytes += item.size;
    if (item.source !== undefined) stats.queuedBySource.set(item.source, (stats.queuedBySource.get(item.source) ?? 0) + 1);
  };

  const flush = async (): Promise<RescanOutcome | undefined> => {
    if (batch.length === 0) return undefined;
    // Nothing new goes out once interrupted; a batch already on the wire is awaited
    // (an aborted send might still have been applied, leaving the resume key unsure).
    if (signal.aborted) throw new Interrupted();
    if (!options.dryRun) {
      await limiter?.take(batch.length, signal);
      if (signal.aborted) throw new Interrupted();
      const outcome = await sendMessageBatch(
        options.sqs!,
        options.queueUrl!,
        batch.map((item) => ({ body: item.body, attributes: RESCAN_ATTRIBUTES })),
      );
      stats.queued += outcome.sent.size;
      for (const index of outcome.sent.keys()) counted(batch[index]!);
      if (outcome.failed.length > 0) {
        const first = outcome.failed[0]!;
        // Entries after the first failure may have gone out; resuming before it
        // queues them again, which costs a second scan, never a missed one.
        resumeAfter = batch[first.index]!.before;
        const failures = outcome.failed.map((failure) => ({ ...failure, key: batch[failure.index]!.key }));
        batch = [];
        progress();
        return { kind: 'rejected', failures };
      }
    } else {
      stats.queued += batch.length;
      for (const item of batch) counted(item);
    }
    batch = [];
    resumeAfter = lastListed;
    progress();
    return undefined;
  };

  try {
    for await (const page of options.pages) {
      for (const object of page.objects) {
        if (signal.aborted) throw new Interrupted();
        stats.listed += 1;
        const decision = decide(object, options.rules, sequencer);
        if (decision.kind === 'queue') {
          batch.push({ key: decision.key, body: decision.body, size: object.size, source: decision.source, before: lastListed });
        } else if (decision.kind === 'skip') {
          stats.skippedTotal += 1;
          stats.skipped.set(decision.reason, (stats.skipped.get(decision.reason) ?? 0) + 1);
          options.onSkip?.(decision.key, decision.reason);
        } else {
          stats.older += 1;
        }
        lastListed = object.position ?? object.key;
        if (batch.length === 0) resumeAfter = lastListed;
        if (batch.length >= batchSize) {
          const stop = await flush();
          if (stop) return { stats, outcome: stop, resumeAfter };
        }
        progress();
      }
      if (page.fraction !== undefined) stats.fraction = page.fraction;
      progress();
    }
    const stop = await flush();
    return { stats, outcome: stop ?? { kind: 'done' }, resumeAfter };
  } catch (error) {
    if (isAbort(error) && signal.aborted) return { stats, outcome: { kind: 'interrupted' }, resumeAfter };
    return { stats, outcome: { kind: 'failed', error }, resumeAfter };
  }
}
