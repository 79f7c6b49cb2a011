/**
 * The `backfill` phase (issue 14 §4): how long a fresh upload waits for its
 * verdict while a large rescan is queued. A backfill of a million objects must
 * not add minutes to it.
 *
 * Three runs, each with a freshly started worker (CONCURRENCY = the small-file
 * phases'), and the same live uploads: one small file every GAP_MS, each timed
 * from its PutObject to its forward on the validation queue (the verdict), as the
 * latency phase times one:
 *   - quiet:  no backlog, the baseline;
 *   - shared: the backlog on the inbound queue, as `bucketscan rescan` queues it
 *             without RESCAN_QUEUE; SQS hands messages out roughly in arrival
 *             order, so every upload waits behind what was queued before it;
 *   - lane:   the backlog on RESCAN_QUEUE, which the worker reads only with the
 *             capacity live uploads leave free.
 * The backlog is BACKLOG_OBJECTS small objects rescanned REPEATS times, queued by
 * the rescan loop itself (src/rescan/rescan.ts) before the worker starts. Each
 * run also records how far the backfill got: a lane that starves the backfill
 * is no better than a queue that starves uploads.
 *
 * A worker that does not read RESCAN_QUEUE leaves the lane's backlog untouched;
 * the lane run then says so (laneRead false) instead of passing as a result.
 * The shared run's backfill rate extrapolates to a million events: the wait a
 * fresh upload has behind a million-object backfill on the inbound queue.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { listCurrentObjects } from '../src/aws/listing.ts';
import { rescan } from '../src/rescan/rescan.ts';
import { createQueue, queueDepth } from '../test/support/moto-notifications.ts';
import type { BenchClamd } from './clamd.ts';
import { benchKey, inParallel, randomBuffer } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { purge, startWorker, type Stack } from './phases.ts';
import { percentile, round } from './proc.ts';
import type { BackfillResult, BackfillRun } from './results.ts';

const { region, unprocessedBucket } = BENCH_RESOURCES;

/** The lane's queue in the emulator. */
const LANE = 'bench-rescan';

interface Sizes {
  backlogObjects: number;
  repeats: number;
  uploads: number;
  gapMs: number;
  /** A guard against a stuck run, not a speed check. */
  verdictTimeoutMs: number;
}

const SIZES: Record<'full' | 'smoke', Sizes> = {
  // 6,000 events: about half a minute of work for one worker on the emulator.
  full: { backlogObjects: 1000, repeats: 6, uploads: 30, gapMs: 200, verdictTimeoutMs: 600_000 },
  smoke: { backlogObjects: 40, repeats: 3, uploads: 3, gapMs: 50, verdictTimeoutMs: 120_000 },
};

export async function backfillPhase(stack: Stack, clamd: BenchClamd): Promise<BackfillResult> {
  const { options, s3, sqs, emulator } = stack;
  const sizes = SIZES[options.smoke ? 'smoke' : 'full'];
  const concurrency = options.smallConcurrency;
  const laneUrl = await createQueue(sqs, LANE);

  // The objects the backfill rescans; their own upload events are thrown away.
  const folder = randomUUID();
  stack.progress(`backfill: uploading ${sizes.backlogObjects} objects to rescan`);
  await inParallel(sizes.backlogObjects, 16, async (index) => {
    const body = randomBuffer(options.smallKiB * 1024);
    await s3.send(new PutObjectCommand({ Bucket: unprocessedBucket, Key: `${folder}/backfill-${index}.bin`, Body: body }));
  });
  await emulator.call({ cmd: 'idle' });
  await purge(stack, 'inbound', 'validation');

  const queueBacklog = async (queueUrl: string): Promise<number> => {
    let queued = 0;
    for (let repeat = 0; repeat < sizes.repeats; repeat++) {
      const result = await rescan({
        pages: listCurrentObjects(s3, { bucket: unprocessedBucket, prefix: `${folder}/`, versioned: false }),
        sqs,
        queueUrl,
        rules: { bucket: unprocessedBucket, prefix: '', region },
        dryRun: false,
        signal: new AbortController().signal,
      });
      if (result.outcome.kind !== 'done') throw new Error(`backfill: the rescan stopped: ${result.outcome.kind}`);
      queued += result.stats.queued;
    }
    return queued;
  };

  const laneDepth = () => queueDepth(sqs, laneUrl);
  const inboundDepth = async () => {
    const depth = await emulator.depth('inbound');
    return depth.ready + depth.inflight + depth.delayed;
  };

  const runs: BackfillRun[] = [];
  for (const mode of ['quiet', 'shared', 'lane'] as const) {
    await purge(stack, 'inbound', 'validation');
    await sqs.send(new PurgeQueueCommand({ QueueUrl: laneUrl }));
    const backlog = mode === 'quiet' ? 0 : await queueBacklog(mode === 'shared' ? emulator.queueUrls.inbound : laneUrl);
    stack.progress(`backfill: ${mode}, ${backlog} rescan events queued, ${sizes.uploads} uploads one every ${sizes.gapMs} ms`);
    const depthOf = mode === 'lane' ? laneDepth : inboundDepth;
    const worker = await startWorker(
      stack,
      clamd,
      { concurrency, env: mode === 'lane' ? { RESCAN_QUEUE: laneUrl } : {} },
      `backfill-${mode}`,
    );
    const latencies: number[] = [];
    let timedOut = 0;
    let backlogLeft = 0;
    let seconds = 0;
    try {
      const verdicts: Array<Promise<void>> = [];
      for (let i = 0; i < sizes.uploads; i++) {
        const key = benchKey(`live-${i}.bin`);
        const { arrived } = await emulator.expectForward(key);
        await s3.send(new PutObjectCommand({ Bucket: unprocessedBucket, Key: key, Body: randomBuffer(options.smallKiB * 1024) }));
        const uploaded = performance.now();
        verdicts.push(
          Promise.race([arrived, delay(sizes.verdictTimeoutMs, -1)]).then((at) => {
            if (at < 0) timedOut += 1;
            else latencies.push(at - uploaded);
          }),
        );
        await delay(sizes.gapMs);
      }
      await Promise.all(verdicts);
      seconds = (performance.now() - worker.startedAt) / 1000;
      // The shared queue's depth counts live uploads too; all of them are done by now.
      backlogLeft = mode === 'quiet' ? 0 : await depthOf();
    } finally {
      await worker.stop();
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    runs.push({
      mode,
      backlog,
      uploads: sizes.uploads,
      p50Ms: round(percentile(sorted, 50), 1),
      p99Ms: round(percentile(sorted, 99), 1),
      maxMs: round(sorted.at(-1) ?? Number.NaN, 1),
      timedOut,
      backlogLeft,
      backlogPerSecond: round((backlog - backlogLeft) / Math.max(seconds, 0.001), 1),
      ...(mode === 'lane' ? { laneRead: backlogLeft < backlog } : {}),
      samplesMs: latencies.map((value) => round(value, 1)),
    });
    if (timedOut > 0)
      stack.warnings.push(
        `backfill ${mode}: ${timedOut} of ${sizes.uploads} uploads had no verdict within ${sizes.verdictTimeoutMs / 1000} s`,
      );
  }
  await purge(stack, 'inbound', 'validation');
  await sqs.send(new PurgeQueueCommand({ QueueUrl: laneUrl }));
  const shared = runs.find((run) => run.mode === 'shared');
  return {
    concurrency,
    fileKiB: options.smallKiB,
    gapMs: sizes.gapMs,
    runs,
    millionOnInboundMinutes: round(1e6 / Math.max(shared?.backlogPerSecond ?? 0, 0.001) / 60, 0),
  };
}
