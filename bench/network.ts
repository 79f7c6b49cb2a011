/**
 * The latency mode (issue 7, part 2): small files with every AWS request slowed
 * to a network's pace. Real S3 and SQS answer in 5-30 ms, the loopback emulator
 * in well under one, so on the emulator alone a worker that waits out its round
 * trips one after another looks as good as one that overlaps them.
 *
 * The worker talks to the emulator through the proxy the chaos suite injects its
 * faults with (harness/aws-proxy.ts), here with its faults off and a fixed delay on every
 * request: half before the request is passed on, half before the answer. The
 * proxy runs in the driver process, which is otherwise idle while a worker works.
 *
 * The latency-bound ceiling. With C slots, each clean file holding its slot for
 * R round trips of d ms plus clamd's own time s, no worker does better than
 * C / (R·d + s) files per second. R is the fewest round trips a clean file must
 * spend in its slot:
 *
 *   GetObject         1  nothing can be scanned before the bytes arrive; a small
 *                        body comes with the response.
 *   forward           0  SendMessageBatch to the validation queue (and the status
 *                        tag before it) run after the verdict without a slot: a
 *                        slot bounds clamd's load, and the message is deleted only
 *                        once they succeed (src/worker/worker.ts, "scanned").
 *   ReceiveMessage    0  one call brings up to ten messages, and it is made while
 *                        the slots are still busy (RECEIVE_AHEAD), so that a freed
 *                        slot finds its next message already there.
 *   DeleteMessage     0  batched, and made once the outcome is final.
 *
 * so R = 1 (--min-round-trips to change it). A worker that waits out a receive
 * with a slot free spends more than R.
 *
 * d is not the configured delay but a GetObject round trip measured through the
 * proxy (the delay plus what the proxy, the emulator and the SDK add, a
 * millisecond or two here); s is bare clamd scanning the same files one at a time.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ClamdClient } from '../src/scan/clamd-client.ts';
import { DEFAULT_POLICY, startFaultProxy, type FaultProxy } from '../harness/aws-proxy.ts';
import { Random } from '../harness/random.ts';
import type { BenchClamd } from './clamd.ts';
import { chunksOf } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { drain, type Prepared, type Stack, type WorkerSpec } from './phases.ts';
import { percentile, round } from './proc.ts';
import type { LatencyCeiling, NetworkDelayResult, NetworkResult, NetworkRun, SweepResult } from './results.ts';

/** The fault proxy as a plain latency: no faults, no random delays, `delayMs` on every request. */
export async function startLatencyProxy(
  target: string,
  delayMs: number,
  onRequest?: (event: { operation: string; at: number }) => void,
  tls?: { key: Buffer; cert: Buffer },
  serialize?: string[],
): Promise<FaultProxy> {
  const proxy = await startFaultProxy({
    target,
    ...(tls ? { tls } : {}),
    ...(serialize ? { serialize } : {}),
    random: new Random(1),
    policy: { ...DEFAULT_POLICY, rate: 0, delayRate: 0 },
    latencyMs: delayMs,
    ...(onRequest ? { onRequest } : {}),
  });
  proxy.setEnabled(false);
  return proxy;
}

export function latencyCeiling(concurrency: number, minRoundTrips: number, roundTripMs: number, clamdMsPerFile: number): LatencyCeiling {
  const perFileMs = minRoundTrips * roundTripMs + clamdMsPerFile;
  return { concurrency, perFileMs: round(perFileMs, 2), filesPerSecond: round((concurrency * 1000) / perFileMs, 2) };
}

/** Median time of a GetObject (read to the end) of one of the files through `endpoint`, after one unmeasured. */
export async function measureRoundTrip(endpoint: string, key: string, samples = 15): Promise<number> {
  const s3 = new S3Client({
    region: BENCH_RESOURCES.region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  try {
    const times: number[] = [];
    for (let i = -1; i < samples; i++) {
      const started = performance.now();
      const response = await s3.send(new GetObjectCommand({ Bucket: BENCH_RESOURCES.unprocessedBucket, Key: key }));
      await response.Body?.transformToByteArray();
      if (i >= 0) times.push(performance.now() - started);
    }
    return round(
      percentile(
        times.sort((a, b) => a - b),
        50,
      ),
      2,
    );
  } finally {
    s3.destroy();
  }
}

/** Bare clamd's own time for one of the files: median of INSTREAM scans one at a time, each on a fresh connection as the worker's are. */
export async function clamdMsPerFile(clamd: BenchClamd, buffers: Buffer[], samples = 100): Promise<number> {
  if (buffers.length === 0) throw new Error('no files to time clamd with');
  const client = new ClamdClient({ address: clamd.address });
  const times: number[] = [];
  for (let i = -3; i < samples; i++) {
    const buffer = buffers[((i % buffers.length) + buffers.length) % buffers.length]!;
    const started = performance.now();
    const verdict = await client.scan(chunksOf(buffer));
    if (verdict.status !== 'clean') throw new Error(`bare clamd: a latency-mode file is ${JSON.stringify(verdict)}`);
    if (i >= 0) times.push(performance.now() - started);
  }
  return round(
    percentile(
      times.sort((a, b) => a - b),
      50,
    ),
    3,
  );
}

interface RunContext {
  /** The latency proxy: the worker's requests go through it, and it counts them. */
  proxy: FaultProxy;
  roundTripMs: number;
  clamdMs: number;
}

async function networkRun(
  stack: Stack,
  clamd: BenchClamd,
  context: RunContext,
  spec: WorkerSpec & { count: number; label: string },
): Promise<NetworkRun> {
  const { options } = stack;
  const result = await drain(stack, clamd, {
    ...spec,
    proxy: context.proxy,
    snapshot: 'network',
    count: spec.count,
    bytes: spec.count * options.networkKiB * 1024,
    expect: 'clean',
  });
  const { startRssMiB: _start, ...run } = result;
  const inWork = run.inWork;
  const beyondScan = (ms: number) => round((ms - context.clamdMs) / context.roundTripMs, 2);
  return {
    ...run,
    slotMsPerFile: round((run.concurrency * run.seconds * 1000) / run.files, 2),
    inWorkRoundTrips: inWork ? { p50: beyondScan(inWork.p50Ms), p90: beyondScan(inWork.p90Ms) } : null,
  };
}

async function withProxy<T>(
  stack: Stack,
  delayMs: number,
  prepared: Prepared,
  use: (context: Omit<RunContext, 'clamdMs'>) => Promise<T>,
): Promise<T> {
  const proxy = await startLatencyProxy(stack.emulator.endpoint, delayMs);
  try {
    const key = prepared.networkKeys[0];
    if (!key) throw new Error('no latency-mode files were uploaded');
    const roundTripMs = await measureRoundTrip(proxy.endpoint, key);
    return await use({ proxy, roundTripMs });
  } finally {
    await proxy.stop();
  }
}

export async function networkPhase(stack: Stack, clamd: BenchClamd, prepared: Prepared, label: string): Promise<NetworkResult> {
  const { options } = stack;
  const clamdMs = await clamdMsPerFile(clamd, prepared.networkBuffers);
  stack.progress(`${label}: latency mode, ${options.networkKiB} KiB files; bare clamd ${clamdMs} ms per file`);
  const delays: NetworkDelayResult[] = [];
  for (const delayMs of options.networkDelays) {
    delays.push(
      await withProxy(stack, delayMs, prepared, async ({ proxy, roundTripMs }) => {
        const context = { proxy, roundTripMs, clamdMs };
        stack.progress(
          `${label}: +${delayMs} ms per request (a round trip measures ${roundTripMs} ms): ${options.networkFiles} files, default settings`,
        );
        const worker = await networkRun(stack, clamd, context, { count: options.networkFiles, label: `${label}-network-${delayMs}ms` });
        stack.progress(
          `${label}: ${worker.filesPerSecond} files/s at CONCURRENCY=${worker.concurrency}; now ${options.networkFilesC1} at CONCURRENCY=1`,
        );
        const workerC1 = await networkRun(stack, clamd, context, {
          concurrency: 1,
          count: options.networkFilesC1,
          label: `${label}-network-${delayMs}ms-c1`,
        });
        const ceiling = latencyCeiling(worker.concurrency, options.minRoundTrips, roundTripMs, clamdMs);
        stack.progress(`${label}: ${workerC1.filesPerSecond} files/s at CONCURRENCY=1; ceiling ${ceiling.filesPerSecond} files/s`);
        return {
          delayMs,
          roundTripMs,
          worker,
          workerC1,
          ceiling,
          ratioVsC1: round(worker.filesPerSecond / workerC1.filesPerSecond, 2),
          ratioVsCeiling: round(worker.filesPerSecond / ceiling.filesPerSecond, 3),
        };
      }),
    );
  }
  return { fileKiB: options.networkKiB, minRoundTrips: options.minRoundTrips, clamdMsPerFile: clamdMs, delays };
}

/** One worker setting at several values, in the latency mode: the measurement defaults are chosen from. */
export async function sweepPhase(stack: Stack, clamd: BenchClamd, prepared: Prepared): Promise<SweepResult> {
  const { options } = stack;
  const sweep = options.sweep;
  if (!sweep) throw new Error('no sweep was asked for');
  const clamdMs = await clamdMsPerFile(clamd, prepared.networkBuffers);
  return withProxy(stack, sweep.delayMs, prepared, async ({ proxy, roundTripMs }) => {
    const context = { proxy, roundTripMs, clamdMs };
    const rows: SweepResult['rows'] = [];
    for (const value of sweep.values) {
      const count = sweep.name === 'CONCURRENCY' && value === '1' ? options.networkFilesC1 : options.networkFiles;
      stack.progress(`sweep: ${sweep.name}=${value}, +${sweep.delayMs} ms per request, ${count} files`);
      const run = await networkRun(stack, clamd, context, { env: { [sweep.name]: value }, count, label: `sweep-${sweep.name}-${value}` });
      const ceiling = latencyCeiling(run.concurrency, options.minRoundTrips, roundTripMs, clamdMs);
      rows.push({ value, run, ceiling, ratioVsCeiling: round(run.filesPerSecond / ceiling.filesPerSecond, 3), ratioVsC1: null });
      stack.progress(
        `sweep: ${sweep.name}=${value}: ${run.filesPerSecond} files/s, ${round(run.filesPerSecond / ceiling.filesPerSecond, 2)} of the ceiling, peak RSS ${run.peakRssMiB} MiB`,
      );
    }
    const baseline = rows.find((row) => row.run.concurrency === 1)?.run.filesPerSecond;
    if (baseline) for (const row of rows) row.ratioVsC1 = round(row.run.filesPerSecond / baseline, 2);
    return { name: sweep.name, delayMs: sweep.delayMs, roundTripMs, clamdMsPerFile: clamdMs, minRoundTrips: options.minRoundTrips, rows };
  });
}
