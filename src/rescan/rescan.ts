/**
 * The rescan loop: list current objects in key order, decide each (plan.ts), and
 * queue the events in batches, under the rate, until the listing ends, a send
 * fails for good, or the run is interrupted. Whatever happens it knows the key
 * to resume after: every key up to it was queued, skipped or filtered out.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { listCurrentObjects } from '../aws/listing.ts';
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
}

export interface RescanOptions {
  s3: S3Client;
  /** Absent with dryRun. */
  sqs?: SQSClient;
  queueUrl?: string;
  bucket: string;
  /** The prefix listed (already narrowed to UNPROCESSED_PREFIX). */
  prefix: string;
  startAfter?: string;
  versioned: boolean;
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
  const stats: RescanStats = { listed: 0, queued: 0, skipped: new Map(), skippedTotal: 0, older: 0 };
  const batchSize = batchSizeFor(options.rate);
  const limiter = options.rate !== undefined && !options.dryRun ? new RateLimiter(options.rate, batchSize, clock) : undefined;
  const sequencer = createSequencer();
  let batch: Pending[] = [];
  let lastListed: string | undefined = options.startAfter;
  let resumeAfter: string | undefined = options.startAfter;
  const progress = () => options.onProgress?.(stats);

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
    }
    batch = [];
    resumeAfter = lastListed;
    progress();
    return undefined;
  };

  try {
    const pages = listCurrentObjects(options.s3, {
      bucket: options.bucket,
      prefix: options.prefix,
      ...(options.startAfter !== undefined ? { startAfter: options.startAfter } : {}),
      versioned: options.versioned,
      signal,
    });
    for await (const page of pages) {
      for (const object of page.objects) {
        if (signal.aborted) throw new Interrupted();
        stats.listed += 1;
        const decision = decide(object, options.rules, sequencer);
        if (decision.kind === 'queue') {
          batch.push({ key: decision.key, body: decision.body, before: lastListed });
        } else if (decision.kind === 'skip') {
          stats.skippedTotal += 1;
          stats.skipped.set(decision.reason, (stats.skipped.get(decision.reason) ?? 0) + 1);
          options.onSkip?.(decision.key, decision.reason);
        } else {
          stats.older += 1;
        }
        lastListed = object.key;
        if (batch.length === 0) resumeAfter = lastListed;
        if (batch.length >= batchSize) {
          const stop = await flush();
          if (stop) return { stats, outcome: stop, resumeAfter };
        }
        progress();
      }
      progress();
    }
    const stop = await flush();
    return { stats, outcome: stop ?? { kind: 'done' }, resumeAfter };
  } catch (error) {
    if (isAbort(error) && signal.aborted) return { stats, outcome: { kind: 'interrupted' }, resumeAfter };
    return { stats, outcome: { kind: 'failed', error }, resumeAfter };
  }
}
