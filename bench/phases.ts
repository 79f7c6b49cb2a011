/**
 * The benchmark's phases. Test objects are uploaded once, while no worker runs;
 * their S3 events are captured from the inbound queue (snapshots in the emulator
 * process) and put back on the queue before each phase, so every phase starts
 * with a full queue and a freshly started worker, and is timed from the worker's
 * "worker started" line to the last message deleted from the queue.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueRole } from '../src/local/emulator.ts';
import { eicar } from '../src/local/eicar.ts';
import type { BenchClamd } from './clamd.ts';
import { runCeiling } from './ceiling.ts';
import { benchKey, inParallel, MIB, randomBuffer, uploadObject } from './data.ts';
import { BENCH_RESOURCES, type EmulatorHandle } from './emulator.ts';
import { summarizeRequests } from './prices.ts';
import { CpuMeter, memoryOf, percentile, round, workerMsPerMiB } from './proc.ts';
import type { BenchOptions, Drain, SetResult, Timed } from './results.ts';
import { startWorkerProcess, type WorkerHandle } from './worker-process.ts';
import type { FaultProxy } from '../harness/aws-proxy.ts';
import { startLatencyProxy } from './network.ts';
import { startTlsProxy } from './tls-proxy.ts';
import { measureFloor } from './floor.ts';

export interface Stack {
  options: BenchOptions;
  emulator: EmulatorHandle;
  s3: S3Client;
  sqs: SQSClient;
  runDir: string;
  /** How the worker is started: the production command's Node flags and compiled CLI, and a command to run it under (--worker-wrapper). */
  command: { nodeArgs: string[]; cli: string; wrapper: string[] };
  /** MAX_FILE_SIZE of the worker and StreamMaxLength of clamd, in MiB. */
  maxFileMiB: number;
  progress(message: string): void;
  errors: string[];
  warnings: string[];
}

export interface Prepared {
  /** The large objects' bytes, for the bare clamd baseline (snapshot "large"). */
  largeBuffers: Buffer[];
  /** Their keys, for the floor (bench/floor.ts). */
  largeKeys: string[];
  /** Snapshot "huge": one object of options.hugeMiB. */
  hugeBytes: number;
  /** Snapshot "small". */
  smallFiles: number;
  /** Snapshot "inflight": options.inFlightObjects objects of options.inFlightMiB. */
  inFlightObjects: number;
  /** Snapshot "network": the small files of the latency mode, kept for clamd's own time per file. */
  networkBuffers: Buffer[];
  networkKeys: string[];
}

const { unprocessedBucket, quarantineBucket } = BENCH_RESOURCES;

const run = promisify(execFile);
const BARE_CLIENT = fileURLToPath(new URL('./bare-clamd.py', import.meta.url));

export async function purge(stack: Stack, ...queues: QueueRole[]): Promise<void> {
  for (const queue of queues) await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.emulator.queueUrls[queue] }));
}

/** Waits until every upload so far has its event queued, keeps those events as `name`, and empties the queue. */
export async function capture(stack: Stack, name: string, expected: number): Promise<void> {
  await stack.emulator.call({ cmd: 'idle' });
  const count = (await stack.emulator.call({ cmd: 'snapshot', name })) as number;
  await purge(stack, 'inbound');
  if (count !== expected) throw new Error(`expected ${expected} events for "${name}", the inbound queue held ${count}`);
}

/** Uploads every test object once, with no worker running. */
export async function prepare(stack: Stack): Promise<Prepared> {
  const { options, s3 } = stack;
  const phases = new Set(options.phases);
  const largeBuffers: Buffer[] = [];
  const largeKeys: string[] = [];
  if (phases.has('large') || phases.has('memory') || phases.has('profile')) {
    const count = phases.has('large') ? options.largeObjects : 1;
    stack.progress(`uploading ${count} x ${options.largeMiB} MiB`);
    for (let i = 0; i < count; i++) {
      const buffer = randomBuffer(options.largeMiB * MIB);
      largeBuffers.push(buffer);
      largeKeys.push(benchKey(`large-${i}.bin`));
      await uploadObject(s3, unprocessedBucket, largeKeys[i]!, buffer.length, (offset, length) => buffer.subarray(offset, offset + length));
    }
    await capture(stack, 'large', count);
  }
  const hugeBytes = options.hugeMiB * MIB;
  if (phases.has('memory')) {
    stack.progress(`uploading 1 x ${options.hugeMiB} MiB`);
    // Made part by part: only the emulator holds it whole.
    await uploadObject(s3, unprocessedBucket, benchKey('huge.bin'), hugeBytes, (_offset, length) => randomBuffer(length));
    await capture(stack, 'huge', 1);
  }
  if (phases.has('small') || phases.has('requests')) {
    stack.progress(`uploading ${options.smallFiles} x ${options.smallKiB} KiB`);
    await inParallel(options.smallFiles, 16, async (i) => {
      await s3.send(
        new PutObjectCommand({ Bucket: unprocessedBucket, Key: benchKey(`small-${i}.bin`), Body: randomBuffer(options.smallKiB * 1024) }),
      );
    });
    await capture(stack, 'small', options.smallFiles);
  }
  let inFlightObjects = 0;
  if (phases.has('inflight')) {
    inFlightObjects = options.inFlightObjects;
    stack.progress(`uploading ${inFlightObjects} x ${options.inFlightMiB} MiB`);
    for (let i = 0; i < inFlightObjects; i++) {
      await uploadObject(s3, unprocessedBucket, benchKey(`inflight-${i}.bin`), options.inFlightMiB * MIB, (_offset, length) =>
        randomBuffer(length),
      );
    }
    await capture(stack, 'inflight', inFlightObjects);
  }
  const networkBuffers: Buffer[] = [];
  const networkKeys: string[] = [];
  if (phases.has('network') || phases.has('sweep')) {
    stack.progress(`uploading ${options.networkFiles} x ${options.networkKiB} KiB`);
    for (let i = 0; i < options.networkFiles; i++) {
      networkBuffers.push(randomBuffer(options.networkKiB * 1024));
      networkKeys.push(benchKey(`network-${i}.bin`));
    }
    await inParallel(options.networkFiles, 16, async (i) => {
      await s3.send(new PutObjectCommand({ Bucket: unprocessedBucket, Key: networkKeys[i], Body: networkBuffers[i] }));
    });
    await capture(stack, 'network', options.networkFiles);
  }
  return { largeBuffers, largeKeys, hugeBytes, smallFiles: options.smallFiles, inFlightObjects, networkBuffers, networkKeys };
}

/** A queue URL of the emulator's, addressed through `endpoint` instead (the latency proxy); fauxqs goes by the path. */
function through(queueUrl: string, endpoint: string | undefined): string {
  return endpoint === undefined ? queueUrl : `${endpoint}${new URL(queueUrl).pathname}`;
}

export interface WorkerSpec {
  /** CONCURRENCY; undefined: the worker's default. */
  concurrency?: number | undefined;
  /** More settings (a sweep's value), over the benchmark's own and over --worker-env. */
  env?: Record<string, string>;
  /**
   * The proxy the worker sends its AWS requests through, which counts them (the
   * latency proxy); default a counting proxy of the drain's own, in front of the
   * emulator. `null`: straight to the emulator, nothing counted (the large-object
   * phases, where a proxy relaying every byte would take CPU from clamd).
   */
  proxy?: FaultProxy | null;
  /** Where the worker's AWS requests go; set by drain from `proxy`. */
  endpoint?: string;
  /** Node flags after the production command's (a heap snapshot on a signal, a CPU profile). */
  extraNodeArgs?: string[];
  /** A compiled CLI in place of the run's (the profile phase's source-mapped copy). */
  cli?: string;
}

function workerEnv(stack: Stack, clamd: BenchClamd, spec: WorkerSpec): Record<string, string> {
  const { emulator } = stack;
  if (clamd.address.kind !== 'tcp') throw new Error('the benchmark clamd listens on TCP');
  return {
    UNPROCESSED_BUCKET_NAME: unprocessedBucket,
    QUARANTINE_BUCKET_NAME: quarantineBucket,
    VIRUS_SCANNING_QUEUE_URL: through(emulator.queueUrls.inbound, spec.endpoint),
    VALIDATION_QUEUE_URL: through(emulator.queueUrls.validation, spec.endpoint),
    VIRUS_NOTIFICATION_TOPIC_ARN: emulator.topicArn,
    AWS_REGION: BENCH_RESOURCES.region,
    AWS_ENDPOINT_URL: spec.endpoint ?? emulator.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    CLAMD_HOST: clamd.address.host,
    CLAMD_PORT: String(clamd.address.port),
    MAX_FILE_SIZE: String(stack.maxFileMiB),
    // A 1 GiB scan against a large signature set can take minutes.
    CLAMD_TIMEOUT: '1800',
    // Receives return at once while the queue holds messages; a short poll only
    // makes the stop at the end of a phase quick (empty receives are counted apart).
    RECEIVE_WAIT_TIME: '1',
    SHUTDOWN_TIMEOUT: '60',
    LOG_LEVEL: 'info',
    ...(stack.options.workerNodeOptions ? { NODE_OPTIONS: stack.options.workerNodeOptions } : {}),
    // --worker-env stands in for the worker's defaults; what a phase sets itself
    // (CONCURRENCY=1 for the baseline, a sweep's value) wins over it.
    ...stack.options.workerEnv,
    ...(spec.concurrency === undefined ? {} : { CONCURRENCY: String(spec.concurrency) }),
    ...spec.env,
  };
}

let workerSerial = 0;
export async function startWorker(stack: Stack, clamd: BenchClamd, spec: WorkerSpec, label: string): Promise<WorkerHandle> {
  const id = `${++workerSerial}-${label}`;
  return startWorkerProcess({
    env: workerEnv(stack, clamd, spec),
    logFile: join(stack.runDir, `worker-${id}.log`),
    command: {
      nodeArgs: [...stack.command.nodeArgs, ...(spec.extraNodeArgs ?? [])],
      cli: spec.cli ?? stack.command.cli,
      wrapper: stack.command.wrapper,
    },
  });
}

/** The CONCURRENCY a worker runs with, from its "worker started" line. */
export function concurrencyOf(worker: WorkerHandle): number {
  const value = worker.started['concurrency'];
  if (typeof value !== 'number') throw new Error('the worker\'s "worker started" line has no concurrency field');
  return value;
}

/**
 * Puts a snapshot's events back on the queue, starts a worker and times it until
 * the last of them is deleted.
 */
export async function drain(
  stack: Stack,
  clamd: BenchClamd,
  spec: WorkerSpec & { snapshot: string; count?: number; bytes: number; label: string; expect: string; watchInFlight?: boolean },
): Promise<Drain & { startRssMiB: number }> {
  const { emulator } = stack;
  await purge(stack, 'inbound');
  const files = (await emulator.call({ cmd: 'requeue', name: spec.snapshot, ...(spec.count ? { count: spec.count } : {}) })) as number;
  const deleted = emulator.call({ cmd: 'awaitDeleted', count: files });
  // AWS requests are counted where they arrive: at a proxy in front of the emulator.
  const ownProxy = spec.proxy === undefined ? await startLatencyProxy(emulator.endpoint, 0) : undefined;
  const proxy = spec.proxy ?? ownProxy;
  proxy?.resetCounts();
  const worker = await startWorker(stack, clamd, { ...spec, ...(proxy ? { endpoint: proxy.endpoint } : {}) }, spec.label);
  const meter = new CpuMeter({ worker: worker.pid, clamd: clamd.pid, emulator: emulator.pid, bench: process.pid });
  const startRssMiB = worker.memory()?.rssMiB ?? NaN;
  // Messages received and not yet deleted, as the queue sees them: how many files were in work at once.
  let maxInFlight = 0;
  const watcher = spec.watchInFlight
    ? setInterval(() => {
        emulator.depth('inbound').then(
          (depth) => (maxInFlight = Math.max(maxInFlight, depth.inflight)),
          () => undefined,
        );
      }, 100)
    : undefined;
  // Generous: a stuck phase should fail, not hang the run.
  const timeoutMs = 300_000 + (spec.bytes / MIB) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    deleted.then(() => false),
    new Promise<boolean>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  clearInterval(watcher);
  const end = performance.now();
  const cpuSeconds = meter.read();
  const memory = worker.memory();
  if (!timedOut) await Promise.race([worker.outcomesReached(files), delay(10_000)]);
  const exit = await worker.stop();
  const counts = proxy ? structuredClone(proxy.counts) : undefined;
  await ownProxy?.stop();
  await purge(stack, 'inbound', 'validation', 'notification');
  if (timedOut) {
    throw new Error(
      `${spec.label}: ${files} messages not all handled within ${timeoutMs / 1000} s; outcomes ${JSON.stringify(worker.outcomes)}, problems ${JSON.stringify(worker.problems)}; logs in ${stack.runDir}`,
    );
  }
  if ((worker.outcomes[spec.expect] ?? 0) !== files) {
    stack.errors.push(`${spec.label}: expected ${files} "${spec.expect}" outcomes, got ${JSON.stringify(worker.outcomes)}`);
  }
  if (Object.keys(worker.problems).length > 0)
    stack.errors.push(`${spec.label}: worker warnings/errors ${JSON.stringify(worker.problems)}`);
  if (exit.code !== 0) stack.errors.push(`${spec.label}: worker exited with code ${exit.code} (signal ${exit.signal})`);
  const seconds = (end - worker.startedAt) / 1000;
  return {
    concurrency: concurrencyOf(worker),
    ...(worker.cleanVerdictsMs.length > 0 ? { inWork: summarizeDurations(worker.cleanVerdictsMs) } : {}),
    ...(worker.cleanDurationsMs.length > 0 ? { untilForwarded: summarizeDurations(worker.cleanDurationsMs) } : {}),
    ...(spec.watchInFlight ? { maxInFlight } : {}),
    files,
    bytes: spec.bytes,
    seconds: round(seconds, 3),
    filesPerSecond: round(files / seconds, 2),
    mibPerSecond: round(spec.bytes / MIB / seconds, 2),
    peakRssMiB: round(memory?.peakRssMiB ?? NaN, 1),
    startRssMiB: round(startRssMiB, 1),
    cpuSeconds,
    outcomes: { ...worker.outcomes },
    problems: { ...worker.problems },
    ...(counts ? { requests: summarizeRequests(counts, files) } : {}),
  };
}

/**
 * Bare clamd: the same bytes streamed by a client that costs almost nothing
 * (bench/bare-clamd.py: INSTREAM frames sent from the page cache with sendfile),
 * so that the worker is compared with clamd alone, not with another client that
 * carries part of the worker's own costs. The bytes are written to files in the
 * run directory first; the client's CPU is reported apart ("client").
 */
async function bareClamd(stack: Stack, clamd: BenchClamd, buffers: Buffer[], parallel: number): Promise<Timed> {
  if (clamd.address.kind !== 'tcp') throw new Error('the benchmark clamd listens on TCP');
  const dir = join(stack.runDir, 'bare');
  mkdirSync(dir, { recursive: true });
  const files = buffers.map((buffer, index) => {
    const path = join(dir, `object-${index}.bin`);
    if (!existsSync(path)) writeFileSync(path, buffer);
    return path;
  });
  const meter = new CpuMeter({ clamd: clamd.pid, emulator: stack.emulator.pid, bench: process.pid });
  const started = performance.now();
  const { stdout } = await run('python3', [BARE_CLIENT, clamd.address.host, String(clamd.address.port), String(parallel), ...files], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = meter.read();
  const answer = JSON.parse(stdout) as { verdicts: string[]; cpuSeconds: number };
  answer.verdicts.forEach((verdict, index) => {
    if (!/^stream: OK$/.test(verdict)) throw new Error(`bare clamd: object ${index} is ${JSON.stringify(verdict)}`);
  });
  cpuSeconds['client'] = round(answer.cpuSeconds, 2);
  const bytes = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
  return {
    concurrency: parallel,
    files: buffers.length,
    bytes,
    seconds: round(seconds, 3),
    filesPerSecond: round(buffers.length / seconds, 2),
    mibPerSecond: round(bytes / MIB / seconds, 2),
    cpuSeconds,
  };
}

export async function largePhase(
  stack: Stack,
  clamd: BenchClamd,
  prepared: Prepared,
  label: string,
): Promise<NonNullable<SetResult['large']>> {
  const { options } = stack;
  const bytes = prepared.largeBuffers.reduce((sum, buffer) => sum + buffer.length, 0);
  const what = `${prepared.largeBuffers.length} x ${options.largeMiB} MiB at ${options.concurrency} at once`;
  stack.progress(`${label}: bare clamd, ${what}`);
  const before = await bareClamd(stack, clamd, prepared.largeBuffers, options.concurrency);
  stack.progress(`${label}: bare clamd ${before.mibPerSecond} MiB/s; now the worker, CONCURRENCY=${options.concurrency}`);
  const worker = await drain(stack, clamd, {
    snapshot: 'large',
    proxy: null,
    concurrency: options.concurrency,
    bytes,
    label: `${label}-large`,
    expect: 'clean',
  });
  stack.progress(`${label}: worker ${worker.mibPerSecond} MiB/s, peak RSS ${worker.peakRssMiB} MiB; the worker again, over TLS`);
  // The same objects with the worker behind a TLS-terminating relay: its CPU per MiB with decryption, as from AWS.
  const tls = await startTlsProxy(stack.emulator.endpoint, stack.runDir);
  let workerTls: Drain;
  try {
    workerTls = await drain(stack, clamd, {
      snapshot: 'large',
      proxy: null,
      endpoint: tls.endpoint,
      env: { NODE_EXTRA_CA_CERTS: tls.caFile },
      concurrency: options.concurrency,
      bytes,
      label: `${label}-large-tls`,
      expect: 'clean',
    });
  } finally {
    await tls.stop();
  }
  const { startRssMiB: _tlsStart, ...tlsRun } = workerTls as Drain & { startRssMiB?: number };
  stack.progress(`${label}: worker over TLS ${workerTls.mibPerSecond} MiB/s; bare clamd again`);
  const after = await bareClamd(stack, clamd, prepared.largeBuffers, options.concurrency);
  stack.progress(`${label}: bare clamd ${after.mibPerSecond} MiB/s; the CPU floor of a plain Node.js client`);
  const floor = await measureFloor(stack, clamd, prepared.largeKeys, options.concurrency);
  stack.progress(
    `${label}: floor ${floor.msPerMiB} ms/MiB, ${floor.msPerRequest} ms per GET, ${floor.msPerInstream} ms per small INSTREAM`,
  );
  const seconds = before.seconds + after.seconds;
  const cpuSeconds: Record<string, number> = {};
  for (const run of [before, after]) {
    for (const [name, value] of Object.entries(run.cpuSeconds)) cpuSeconds[name] = round((cpuSeconds[name] ?? 0) + value / 2, 2);
  }
  const bare: Timed = {
    concurrency: options.concurrency,
    files: before.files,
    bytes,
    seconds: round(seconds / 2, 3),
    filesPerSecond: round((2 * before.files) / seconds, 2),
    mibPerSecond: round((2 * bytes) / MIB / seconds, 2),
    cpuSeconds,
  };
  const spread = Math.abs(before.mibPerSecond - after.mibPerSecond) / bare.mibPerSecond;
  if (spread > 0.1) {
    stack.warnings.push(
      `${label}: bare clamd ran at ${before.mibPerSecond} MiB/s before the worker and ${after.mibPerSecond} MiB/s after it ` +
        `(${Math.round(spread * 100)}% apart): the machine was not quiet, and the large-object ratio is uncertain by about as much`,
    );
  }
  return {
    objects: prepared.largeBuffers.length,
    objectMiB: options.largeMiB,
    bare,
    bareRuns: [before, after],
    worker,
    workerTls: tlsRun,
    floor,
    ratio: round(worker.mibPerSecond / bare.mibPerSecond, 3),
  };
}

export async function memoryPhase(
  stack: Stack,
  clamd: BenchClamd,
  _prepared: Prepared,
  label: string,
  large: SetResult['large'],
): Promise<NonNullable<SetResult['memory']>> {
  const { options } = stack;
  const single: NonNullable<SetResult['memory']>['single'] = [];
  let idleRssMiB = NaN;
  for (const [snapshot, objectMiB] of [
    ['large', options.largeMiB],
    ['huge', options.hugeMiB],
  ] as const) {
    stack.progress(`${label}: one ${objectMiB} MiB object, CONCURRENCY=${options.concurrency}`);
    const result = await drain(stack, clamd, {
      snapshot,
      proxy: null,
      count: 1,
      concurrency: options.concurrency,
      bytes: objectMiB * MIB,
      label: `${label}-memory-${objectMiB}`,
      expect: 'clean',
    });
    if (Number.isNaN(idleRssMiB)) idleRssMiB = result.startRssMiB;
    single.push({
      objectMiB,
      peakRssMiB: result.peakRssMiB,
      seconds: result.seconds,
      workerCpuMsPerMiB: round(workerMsPerMiB(result) ?? NaN, 2),
    });
    stack.progress(`${label}: peak RSS ${result.peakRssMiB} MiB for ${objectMiB} MiB`);
  }
  return {
    single,
    ...(large ? { concurrent: { objects: large.objects, objectMiB: large.objectMiB, peakRssMiB: large.worker.peakRssMiB } } : {}),
    idleRssMiB,
  };
}

/** Peak RSS with many large objects in work at once (issue 7: 16 × 128 MiB at CONCURRENCY=16). */
export async function inFlightPhase(
  stack: Stack,
  clamd: BenchClamd,
  prepared: Prepared,
  label: string,
): Promise<NonNullable<SetResult['inFlight']>> {
  const { options } = stack;
  const objects = prepared.inFlightObjects;
  stack.progress(`${label}: ${objects} x ${options.inFlightMiB} MiB at CONCURRENCY=${options.inFlightConcurrency}`);
  const result = await drain(stack, clamd, {
    snapshot: 'inflight',
    proxy: null,
    concurrency: options.inFlightConcurrency,
    bytes: objects * options.inFlightMiB * MIB,
    label: `${label}-inflight`,
    expect: 'clean',
    watchInFlight: true,
  });
  if ((result.maxInFlight ?? 0) < Math.min(objects, options.inFlightConcurrency)) {
    stack.warnings.push(
      `${label}: at most ${result.maxInFlight} of the ${objects} objects were in work at once (CONCURRENCY=${options.inFlightConcurrency}); the peak RSS is for fewer than asked`,
    );
  }
  stack.progress(`${label}: peak RSS ${result.peakRssMiB} MiB with ${objects} x ${options.inFlightMiB} MiB in work`);
  const { startRssMiB: _start, ...drained } = result;
  return {
    objects,
    objectMiB: options.inFlightMiB,
    concurrency: options.inFlightConcurrency,
    peakRssMiB: result.peakRssMiB,
    drain: drained,
  };
}

export async function smallPhase(
  stack: Stack,
  clamd: BenchClamd,
  prepared: Prepared,
  label: string,
): Promise<NonNullable<SetResult['small']>> {
  const { options, emulator } = stack;
  const bytes = prepared.smallFiles * options.smallKiB * 1024;
  stack.progress(`${label}: ${prepared.smallFiles} x ${options.smallKiB} KiB, CONCURRENCY=${options.smallConcurrency}`);
  const worker = await drain(stack, clamd, {
    snapshot: 'small',
    concurrency: options.smallConcurrency,
    bytes,
    label: `${label}-small-c${options.smallConcurrency}`,
    expect: 'clean',
  });
  stack.progress(`${label}: ${worker.filesPerSecond} files/s; now CONCURRENCY=1`);
  const c1Files = Math.min(options.smallFilesC1, prepared.smallFiles);
  const workerC1 = await drain(stack, clamd, {
    snapshot: 'small',
    count: c1Files,
    concurrency: 1,
    bytes: c1Files * options.smallKiB * 1024,
    label: `${label}-small-c1`,
    expect: 'clean',
  });
  stack.progress(`${label}: ${workerC1.filesPerSecond} files/s at CONCURRENCY=1; now the emulator-bound ceiling`);

  const attempts = worker.requests?.attempts ?? {};
  const batchSends = (attempts['SQS.SendMessageBatch'] ?? 0) > 0;
  const batchDeletes = (attempts['SQS.DeleteMessageBatch'] ?? 0) > 0;
  await purge(stack, 'inbound');
  const files = (await emulator.call({ cmd: 'requeue', name: 'small' })) as number;
  const deleted = emulator.call({ cmd: 'awaitDeleted', count: files });
  const meter = new CpuMeter({ emulator: emulator.pid, bench: process.pid });
  const started = performance.now();
  await runCeiling({
    endpoint: emulator.endpoint,
    region: BENCH_RESOURCES.region,
    inboundUrl: emulator.queueUrls.inbound,
    validationUrl: emulator.queueUrls.validation,
    concurrency: options.smallConcurrency,
    files,
    batchSends,
    batchDeletes,
  });
  await deleted;
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = meter.read();
  await purge(stack, 'inbound', 'validation');
  const ceiling = {
    concurrency: options.smallConcurrency,
    files,
    bytes,
    seconds: round(seconds, 3),
    filesPerSecond: round(files / seconds, 2),
    mibPerSecond: round(bytes / MIB / seconds, 2),
    cpuSeconds,
    batchSends,
    batchDeletes,
  };
  stack.progress(`${label}: ceiling ${ceiling.filesPerSecond} files/s`);
  return {
    files: prepared.smallFiles,
    fileKiB: options.smallKiB,
    worker,
    workerC1,
    ceiling,
    ratioVsC1: round(worker.filesPerSecond / workerC1.filesPerSecond, 2),
    ratioVsCeiling: round(worker.filesPerSecond / ceiling.filesPerSecond, 3),
  };
}

export async function requestsPhase(
  stack: Stack,
  clamd: BenchClamd,
  label: string,
  small: SetResult['small'],
): Promise<NonNullable<SetResult['requests']>> {
  const { options, s3, emulator } = stack;
  let clean = small?.worker.requests;
  if (!clean) {
    stack.progress(`${label}: clean files for the request count`);
    const bytes = options.smallFiles * options.smallKiB * 1024;
    clean = (
      await drain(stack, clamd, {
        snapshot: 'small',
        concurrency: options.smallConcurrency,
        bytes,
        label: `${label}-clean`,
        expect: 'clean',
      })
    ).requests;
  }
  stack.progress(`${label}: ${options.infectedFiles} EICAR files`);
  const sample = eicar();
  await inParallel(options.infectedFiles, 16, async (i) => {
    await s3.send(new PutObjectCommand({ Bucket: unprocessedBucket, Key: benchKey(`eicar-${i}.com`), Body: sample }));
  });
  const snapshot = `infected-${label}`;
  await capture(stack, snapshot, options.infectedFiles);
  const infectedDrain = await drain(stack, clamd, {
    snapshot,
    concurrency: options.concurrency,
    bytes: options.infectedFiles * sample.length,
    label: `${label}-infected`,
    expect: 'infected',
  });
  await emulator.call({ cmd: 'emptyBucket', bucket: quarantineBucket });
  return { ...(clean ? { clean } : {}), ...(infectedDrain.requests ? { infected: infectedDrain.requests } : {}), infectedDrain };
}

export async function latencyPhase(stack: Stack, clamd: BenchClamd, label: string): Promise<NonNullable<SetResult['latency']>> {
  const { options, s3, emulator } = stack;
  stack.progress(`${label}: latency, ${options.latencyFiles} files one at a time`);
  await purge(stack, 'inbound', 'validation');
  const worker = await startWorker(stack, clamd, { concurrency: options.concurrency }, `${label}-latency`);
  const latencies: number[] = [];
  try {
    // One file first, not measured: the first of anything in a fresh process pays
    // for connections and compilation.
    for (let i = -1; i < options.latencyFiles; i++) {
      const key = benchKey(i < 0 ? 'latency-warm-up.bin' : `latency-${i}.bin`);
      const body = randomBuffer(options.smallKiB * 1024);
      const { arrived } = await emulator.expectForward(key);
      await s3.send(new PutObjectCommand({ Bucket: unprocessedBucket, Key: key, Body: body }));
      const uploaded = performance.now();
      const forwarded = await Promise.race([arrived, delay(60_000, -1)]);
      if (forwarded < 0) throw new Error(`${label}: ${key} was not forwarded within 60 s; logs in ${stack.runDir}`);
      if (i >= 0) latencies.push(forwarded - uploaded);
      await delay(options.latencyGapMs);
    }
  } finally {
    await worker.stop();
    await purge(stack, 'inbound', 'validation');
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    files: sorted.length,
    gapMs: options.latencyGapMs,
    p50Ms: round(percentile(sorted, 50), 1),
    p90Ms: round(percentile(sorted, 90), 1),
    p99Ms: round(percentile(sorted, 99), 1),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 1),
    samplesMs: latencies.map((value) => round(value, 2)),
  };
}

/** Clean records' times as the worker logs them (verdictMs: holding a slot; durationMs: until the forward was accepted). */
export function summarizeDurations(durations: number[]): NonNullable<Drain['inWork']> {
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    records: sorted.length,
    p50Ms: round(percentile(sorted, 50), 1),
    p90Ms: round(percentile(sorted, 90), 1),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 2),
  };
}

export function clamdRssMiB(clamd: BenchClamd): number {
  return round(memoryOf(clamd.pid)?.rssMiB ?? NaN, 1);
}
