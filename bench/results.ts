/** The shape of a results file (bench/results/*.json) and the targets it is judged by. */
import type { Machine, MemoryMap } from './proc.ts';
import type { RequestSummary } from './prices.ts';
import type { PRICES } from './prices.ts';
import type { BackfillResult } from './backfill.ts';

export interface BenchOptions {
  smoke: boolean;
  signatures: Array<'small' | 'large' | 'official'>;
  signatureCount: number;
  signatureWildcards: number;
  concurrency: number;
  smallConcurrency: number;
  largeObjects: number;
  largeMiB: number;
  hugeMiB: number;
  smallFiles: number;
  /** Files for the CONCURRENCY=1 run (a rate needs fewer, and it is the slow one). */
  smallFilesC1: number;
  smallKiB: number;
  infectedFiles: number;
  latencyFiles: number;
  latencyGapMs: number;
  /** The in-flight memory figure: this many objects of inFlightMiB at CONCURRENCY=inFlightConcurrency. */
  inFlightObjects: number;
  inFlightMiB: number;
  inFlightConcurrency: number;
  /** Start-up: workers started one after another, each left idle idleSeconds for the idle RSS. */
  startupRuns: number;
  idleSeconds: number;
  /** Fresh processes per row of the import-cost table. */
  importRuns: number;
  /** Take a heap snapshot of the first idle worker of the start-up phase. */
  heapSnapshot: boolean;
  /** Latency mode: the fixed delays added to every AWS request, ms. */
  networkDelays: number[];
  networkFiles: number;
  /** Of which the CONCURRENCY=1 runs take. */
  networkFilesC1: number;
  networkKiB: number;
  /** The fewest round trips a clean file holds its slot for (docs/benchmarks.md, "Latency mode"). */
  minRoundTrips: number;
  /** A worker setting run at several values in the latency mode; null: no sweep. */
  sweep: { name: string; values: string[]; delayMs: number } | null;
  /** The soak: this many small files through one worker, sampled every soakSampleSeconds. */
  soakFiles: number;
  soakKiB: number;
  soakSampleSeconds: number;
  /** Share of the files (from the start) whose samples count as warm-up. */
  soakWarmup: number;
  soakUploaders: number;
  /** The driver pauses its uploads while the inbound queue holds more than this. */
  soakBacklog: number;
  /** The tagged request count (moto, versioned bucket): clean files per batch, one batch uploaded untagged and one with a tag of its own. */
  taggedFiles: number;
  /** The whole task (large signature set, through TLS): files of each size. */
  wholeTask: Array<{ kib: number; files: number }>;
  /** The profiled runs: files of the moto batch (status tag on), and one object of largeMiB. */
  profileFiles: number;
  phases: Phase[];
  /** NODE_OPTIONS for the worker processes (experiments: heap and GC flags); empty: none. */
  workerNodeOptions: string;
  /** Replaces the production command's Node flags (experiments); null: the production command's own. */
  workerNodeArgs: string[] | null;
  /** Settings given to every worker process, over the benchmark's (--worker-env KEY=VALUE). */
  workerEnv: Record<string, string>;
}

/** Phases run once per signature set. */
export const SET_PHASES = ['large', 'memory', 'inflight', 'small', 'requests', 'latency', 'network', 'whole-task'] as const;
/** Phases run once, with the first signature set's clamd (imports needs none). */
export const GLOBAL_PHASES = ['imports', 'startup', 'sweep', 'soak', 'requests-tagged', 'profile', 'backfill'] as const;
export type Phase = (typeof SET_PHASES)[number] | (typeof GLOBAL_PHASES)[number];

/** What `npm run bench` measures with no flags: the full run. */
export const FULL_OPTIONS: Omit<BenchOptions, 'smoke'> = {
  signatures: ['small', 'large'],
  signatureCount: 100_000,
  signatureWildcards: 0,
  concurrency: 4,
  smallConcurrency: 8,
  largeObjects: 4,
  largeMiB: 256,
  hugeMiB: 1024,
  smallFiles: 3000,
  smallFilesC1: 1000,
  smallKiB: 10,
  infectedFiles: 100,
  latencyFiles: 50,
  latencyGapMs: 100,
  inFlightObjects: 16,
  inFlightMiB: 128,
  inFlightConcurrency: 16,
  startupRuns: 5,
  idleSeconds: 5,
  importRuns: 3,
  heapSnapshot: false,
  networkDelays: [20, 50],
  networkFiles: 1000,
  networkFilesC1: 150,
  networkKiB: 20,
  minRoundTrips: 1,
  sweep: { name: 'CONCURRENCY', values: ['1', '2', '4', '8', '16', '32'], delayMs: 20 },
  soakFiles: 50_000,
  soakKiB: 10,
  soakSampleSeconds: 2,
  soakWarmup: 0.1,
  soakUploaders: 4,
  soakBacklog: 1000,
  taggedFiles: 300,
  wholeTask: [
    { kib: 100, files: 2000 },
    { kib: 10 * 1024, files: 40 },
  ],
  profileFiles: 300,
  phases: [...SET_PHASES, ...GLOBAL_PHASES],
  // The worker runs as the production command starts it (bench/production.ts);
  // these only add to it, for experiments.
  workerNodeOptions: '',
  workerNodeArgs: null,
  workerEnv: {},
};

/** True when a run used the full run's settings (a results file from anything else is a trial). */
export function isFullRun(options: BenchOptions): boolean {
  if (options.smoke) return false;
  return (Object.keys(FULL_OPTIONS) as Array<keyof typeof FULL_OPTIONS>).every(
    (key) => JSON.stringify(options[key]) === JSON.stringify(FULL_OPTIONS[key]),
  );
}

/** One worker process draining a pre-filled inbound queue. */
export interface Drain {
  concurrency: number;
  files: number;
  bytes: number;
  /** From the worker's "worker started" line to the last message deleted from the inbound queue. */
  seconds: number;
  filesPerSecond: number;
  mibPerSecond: number;
  /** VmHWM of the worker process at the end of the phase. */
  peakRssMiB: number;
  /** Clean records' verdictMs from the worker's log: how long each held its slot (start to verdict). */
  inWork?: { records: number; p50Ms: number; p90Ms: number; meanMs: number };
  /** Clean records' durationMs: start to forward accepted (the tag, the forward's linger and round trip run without a slot). */
  untilForwarded?: { records: number; p50Ms: number; p90Ms: number; meanMs: number };
  /** The most messages received and not yet deleted at once, polled from the emulator every 100 ms (when watched). */
  maxInFlight?: number;
  /** CPU seconds over the drain, per process (worker, clamd, emulator). */
  cpuSeconds: Record<string, number>;
  outcomes: Record<string, number>;
  problems: Record<string, number>;
  requests?: RequestSummary;
}

export interface Timed {
  concurrency: number;
  files: number;
  bytes: number;
  seconds: number;
  filesPerSecond: number;
  mibPerSecond: number;
  cpuSeconds: Record<string, number>;
}

export interface SetResult {
  signatures: {
    name: 'small' | 'large' | 'official';
    databases: string[];
    generatedBodySignatures: number;
    /** clamd start to first PONG. */
    loadSeconds: number;
    /** clamd's RSS once loaded. */
    clamdRssMiB: number;
  };
  large?: {
    objects: number;
    objectMiB: number;
    /** Both bare runs together: total bytes over total time. */
    bare: Timed;
    /** Bare clamd just before and just after the worker; far apart, the machine was not quiet. */
    bareRuns: Timed[];
    worker: Drain;
    /** The same objects, the worker behind a TLS-terminating relay (its CPU per MiB with decryption). */
    workerTls?: Drain;
    /** What a plain Node.js client spends on the same I/O (bench/floor.ts). */
    floor?: { msPerMiB: number; msPerRequest: number; msPerInstream: number };
    ratio: number;
  };
  memory?: {
    /** One worker scanning one object of each size, alone. */
    single: Array<{ objectMiB: number; peakRssMiB: number; seconds: number; workerCpuMsPerMiB?: number }>;
    /** The large phase: `concurrency` large objects at once. */
    concurrent?: { objects: number; objectMiB: number; peakRssMiB: number };
    /** Right after "worker started", before any message. */
    idleRssMiB: number;
  };
  small?: {
    files: number;
    fileKiB: number;
    worker: Drain;
    workerC1: Drain;
    ceiling: Timed & { batchSends: boolean; batchDeletes: boolean };
    ratioVsC1: number;
    ratioVsCeiling: number;
  };
  requests?: { clean?: RequestSummary; infected?: RequestSummary; infectedDrain?: Drain };
  latency?: {
    files: number;
    gapMs: number;
    p50Ms: number;
    p90Ms: number;
    p99Ms: number;
    maxMs: number;
    meanMs: number;
    samplesMs: number[];
  };
  /** Peak RSS with inFlightObjects large objects in work at once. */
  inFlight?: { objects: number; objectMiB: number; concurrency: number; peakRssMiB: number; drain: Drain };
  network?: NetworkResult;
  /** The whole task (worker + clamd) per vCPU; run for signature sets other than the small one. */
  wholeTask?: WholeTaskRow[];
}

/** One size of file through the worker and clamd (through TLS): what a task's vCPU does. */
export interface WholeTaskRow {
  fileKiB: number;
  files: number;
  drain: Drain;
  /** Worker + clamd CPU seconds. */
  taskCpuSeconds: number;
  filesPerVcpuSecond: number;
  mbPerVcpuSecond: number;
  /** Fargate compute (vCPU with its memory) per million files, at PRICES. */
  usdPerMillionFiles: number;
}

/** Where the worker's busy time went (bench/profile.ts), for one profiled run. */
export interface ProfileRun {
  label: string;
  /** What the run was: files and sizes. */
  what: string;
  files: number;
  busyMs: number;
  layers: Array<{ layer: string; ms: number; share: number }>;
  functions: Array<{ name: string; source: string; layer: string; ms: number; share: number }>;
  /** The .cpuprofile and its folded stacks, in the run directory. */
  output: { cpuprofile: string; folded: string };
}

/** One worker draining small files through the latency proxy. */
export interface NetworkRun extends Drain {
  /** concurrency × wall time / files: how long each file held a slot on average, including the slot's idle time. */
  slotMsPerFile: number;
  /** In work beyond clamd's own time, in round trips: (durationMs − clamdMsPerFile) / roundTripMs, median and 90th percentile. */
  inWorkRoundTrips: { p50: number; p90: number } | null;
}

/** What the latency allows: concurrency / (minRoundTrips × round trip + clamd's time per file). */
export interface LatencyCeiling {
  concurrency: number;
  perFileMs: number;
  filesPerSecond: number;
}

export interface NetworkDelayResult {
  delayMs: number;
  /** A GetObject of one of the files through the proxy, as a client sees it: median of several. */
  roundTripMs: number;
  worker: NetworkRun;
  workerC1: NetworkRun;
  ceiling: LatencyCeiling;
  ratioVsC1: number;
  ratioVsCeiling: number;
}

export interface NetworkResult {
  fileKiB: number;
  minRoundTrips: number;
  /** Bare clamd, one file at a time: median ms per INSTREAM scan of one of the files. */
  clamdMsPerFile: number;
  delays: NetworkDelayResult[];
}

export interface SweepResult {
  name: string;
  delayMs: number;
  roundTripMs: number;
  clamdMsPerFile: number;
  minRoundTrips: number;
  rows: Array<{ value: string; run: NetworkRun; ceiling: LatencyCeiling; ratioVsCeiling: number; ratioVsC1: number | null }>;
}

export interface StartupResult {
  runs: Array<{
    /** Spawn of the production command to its first ReceiveMessage reaching the (zero-delay) proxy. */
    toFirstReceiveMs: number;
    /** Spawn to its "worker started" line on stdout. */
    toStartedMs: number;
    /** VmRSS after idleSeconds of waiting on an empty queue. */
    idleRssMiB: number;
    idlePeakRssMiB: number;
    idleFds: number;
    /** Processes the worker started (the production command must be one process). */
    children: number;
  }>;
  idleSeconds: number;
  p50Ms: number;
  maxMs: number;
  /** Median over the runs. */
  idleRssMiB: number;
  /** The first run's idle resident set by mapping. */
  memoryMap?: MemoryMap;
  /** The first run's V8 heap, idle (--heap-snapshot). */
  heapSnapshot?: HeapSnapshotSummary;
}

export interface HeapSnapshotSummary {
  /** Where the snapshot was written (the run directory). */
  file: string;
  /** Sum of self sizes: the live V8 heap, less than the heap's committed size. */
  totalMiB: number;
  nodes: number;
  byType: Array<{ type: string; mib: number; count: number }>;
  largest: Array<{ name: string; type: string; mib: number; count: number }>;
}

export interface ImportCostRow {
  name: string;
  /** What the probe loads. */
  what: string;
  /** Median VmRSS once loaded, MiB. */
  rssMiB: number;
  heapUsedMiB: number;
  /** Over bare Node. */
  addedMiB: number;
  /** The probe process from spawn to exit, median. */
  wallMs?: number;
}

export interface ImportCostResult {
  runs: number;
  nodeArgs: string[];
  rows: ImportCostRow[];
}

export interface SoakSample {
  /** Seconds since the worker started. */
  t: number;
  /** Records the worker had finished. */
  files: number;
  rssMiB: number;
  fds: number;
}

export interface SoakResult {
  files: number;
  fileKiB: number;
  concurrency: number;
  seconds: number;
  filesPerSecond: number;
  warmupFiles: number;
  samples: SoakSample[];
  /** Over the samples after warm-up: the highest value in their first and in their last quarter, and the difference. */
  rss: { firstMiB: number; lastMiB: number; driftMiB: number; minMiB: number; maxMiB: number; slopeMiBPer10kFiles: number };
  fds: { first: number; last: number; drift: number; min: number; max: number };
  peakRssMiB: number;
  outcomes: Record<string, number>;
  problems: Record<string, number>;
  cpuSeconds: Record<string, number>;
}

/** One batch of clean files through a worker with the status tag on (moto, versioned bucket). */
export interface TaggedBatch {
  files: number;
  /** The tags each file was uploaded with (none for the untagged batch). */
  uploadTags: Record<string, string>;
  concurrency: number;
  outcomes: Record<string, number>;
  /** statusTag of the worker's clean log lines, tallied ("none": not written). */
  statusTags: Record<string, number>;
  problems: Record<string, number>;
  /** Versions whose tag set the driver read back (GetObjectTagging) and found as expected. */
  verifiedVersions: number;
  requests: RequestSummary;
  /** The worker reached moto through a TLS-terminating relay (https). */
  tls?: boolean;
  /** The worker's CPU (user + system) from its "worker started" line to the drained queue. */
  workerCpuSeconds?: number;
  workerCpuMsPerFile?: number;
  /** The same after the first `warmupFiles` files (their first use of every code path compiles it). */
  warmupFiles?: number;
  workerCpuMsPerFileWarm?: number;
}

/** Requests per clean file with the status tag written: moto_server, not the emulator, which has no versioning and no tags. */
export interface TaggedRequestsResult {
  fileKiB: number;
  /** SCAN_STATUS_TAG of the workers. */
  statusTag: string;
  untagged: TaggedBatch;
  pretagged: TaggedBatch;
  /** The untagged batch again, the worker behind a TLS-terminating relay. */
  untaggedTls?: TaggedBatch;
}

export interface TargetCheck {
  set: string;
  name: string;
  target: string;
  value: number | null;
  met: boolean | null;
}

export interface BenchResults {
  schema: 1 | 2;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** The command line that produced this file. */
  command: string;
  machine: Machine;
  options: BenchOptions;
  /** The worker's command line: package.json's "worker" script, and the Node flags the benchmark gave it. */
  production?: { script: string; nodeArgs: string[] /** --worker-cli: a bundle other than the production command's. */; cli?: string };
  prices: typeof PRICES;
  sets: SetResult[];
  /** Signature set whose clamd served the phases run once (startup, sweep, soak, requests-tagged). */
  globalSet?: string;
  imports?: ImportCostResult;
  startup?: StartupResult;
  sweep?: SweepResult;
  soak?: SoakResult;
  requestsTagged?: TaggedRequestsResult;
  profile?: { dir: string; runs: ProfileRun[] };
  backfill?: BackfillResult;
  targets: TargetCheck[];
  /** Anything that went wrong in a phase without stopping the run (the run then exits 1). */
  errors: string[];
  /** Signs that a figure may not be trustworthy, such as a noisy machine. */
  warnings: string[];
}

/** Memory may not grow with object size: the 1 GiB peak may exceed the smallest single-object peak by at most this. */
export const MEMORY_GROWTH_ALLOWANCE_MIB = 16;

/** Issue 7's figures: what each target requires. */
export const TARGETS = {
  largeRatio: 0.9,
  smallVsC1: 5,
  smallVsCeiling: 0.5,
  idleRssMiB: 64,
  hugePeakRssMiB: 96,
  inFlightPeakRssMiB: 128,
  startupMs: 500,
  /** The latency targets hold at this delay. */
  networkDelayMs: 20,
  networkVsC1: 5,
  networkInWorkRoundTrips: 2.5,
  networkVsCeiling: 0.7,
  soakRssDriftMiB: 8,
  soakFdDrift: 0,
  billablePerCleanFile: 3,
  /** Issue 15: the worker's own CPU (user + system). */
  workerCpuMsPerFile: 2,
  workerCpuMsPerMiB: 2,
} as const;

const MIB = 1024 * 1024;

/** The worker's CPU per MiB of a drain (ms), from its user + system seconds. */
export function workerMsPerMiB(drain: Drain | undefined): number | undefined {
  const seconds = drain?.cpuSeconds['worker'];
  return drain && seconds !== undefined && drain.bytes > 0 ? (seconds * 1000) / (drain.bytes / MIB) : undefined;
}

/**
 * Bare clamd's CPU per MiB (clamd and its client) over the worker's (clamd and
 * the worker): the large-object ratio on CPU alone, so without the emulator,
 * which shares the cores here but is S3's own machine in production.
 */
export function cpuRatio(large: NonNullable<SetResult['large']>): number | undefined {
  const bare = (large.bare.cpuSeconds['clamd'] ?? NaN) + (large.bare.cpuSeconds['client'] ?? 0);
  const worker = (large.worker.cpuSeconds['clamd'] ?? NaN) + (large.worker.cpuSeconds['worker'] ?? NaN);
  const ratio = bare / large.bare.bytes / (worker / large.worker.bytes);
  return Number.isFinite(ratio) ? Math.round(ratio * 1000) / 1000 : undefined;
}

export function checkTargets(results: Pick<BenchResults, 'sets' | 'startup' | 'soak' | 'globalSet' | 'requestsTagged'>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (set: string, name: string, target: string, value: number | undefined | null, met: (v: number) => boolean) => {
    const known = value === undefined || value === null || !Number.isFinite(value) ? null : value;
    checks.push({ set, name, target, value: known, met: known === null ? null : met(known) });
  };
  const t = TARGETS;
  for (const set of results.sets) {
    const name = set.signatures.name;
    add(name, 'Large objects: worker / bare clamd', `>= ${t.largeRatio}`, set.large?.ratio, (v) => v >= t.largeRatio);
    if (set.large) {
      add(
        name,
        'Worker CPU per MiB streamed (ms)',
        `<= ${t.workerCpuMsPerMiB}`,
        workerMsPerMiB(set.large.worker),
        (v) => v <= t.workerCpuMsPerMiB,
      );
      if (set.large.workerTls) {
        add(
          name,
          'Worker CPU per MiB streamed, TLS (ms)',
          `<= ${t.workerCpuMsPerMiB}`,
          workerMsPerMiB(set.large.workerTls),
          (v) => v <= t.workerCpuMsPerMiB,
        );
      }
    }
    add(name, 'Small objects: worker / CONCURRENCY=1', `>= ${t.smallVsC1}`, set.small?.ratioVsC1, (v) => v >= t.smallVsC1);
    add(
      name,
      'Small objects: worker / emulator-bound ceiling',
      `>= ${t.smallVsCeiling}`,
      set.small?.ratioVsCeiling,
      (v) => v >= t.smallVsCeiling,
    );
    const single = set.memory?.single ?? [];
    const largest = single.reduce<(typeof single)[number] | undefined>((a, b) => (a && a.objectMiB >= b.objectMiB ? a : b), undefined);
    const smallest = single.reduce<(typeof single)[number] | undefined>((a, b) => (a && a.objectMiB <= b.objectMiB ? a : b), undefined);
    add(
      name,
      `Memory: peak RSS scanning one ${largest?.objectMiB ?? '?'} MiB object (MiB)`,
      `<= ${t.hugePeakRssMiB}`,
      largest?.peakRssMiB,
      (v) => v <= t.hugePeakRssMiB,
    );
    add(
      name,
      `Memory: growth from ${smallest?.objectMiB ?? '?'} MiB to ${largest?.objectMiB ?? '?'} MiB object (MiB)`,
      `<= ${MEMORY_GROWTH_ALLOWANCE_MIB}`,
      largest && smallest && largest !== smallest ? largest.peakRssMiB - smallest.peakRssMiB : null,
      (v) => v <= MEMORY_GROWTH_ALLOWANCE_MIB,
    );
    if (set.inFlight) {
      const f = set.inFlight;
      add(
        name,
        `Memory: peak RSS with ${f.objects} × ${f.objectMiB} MiB in work, CONCURRENCY=${f.concurrency} (MiB)`,
        `<= ${t.inFlightPeakRssMiB}`,
        f.peakRssMiB,
        (v) => v <= t.inFlightPeakRssMiB,
      );
    }
    add(
      name,
      'Requests: billable per clean file',
      `<= ${t.billablePerCleanFile}`,
      set.requests?.clean?.billablePerFile,
      (v) => v <= t.billablePerCleanFile,
    );
    const at20 = set.network?.delays.find((d) => d.delayMs === t.networkDelayMs);
    if (set.network) {
      const ms = t.networkDelayMs;
      add(
        name,
        `Latency mode ${ms} ms: default settings / CONCURRENCY=1`,
        `>= ${t.networkVsC1}`,
        at20?.ratioVsC1,
        (v) => v >= t.networkVsC1,
      );
      add(
        name,
        `Latency mode ${ms} ms: clean record in work, median, round trips beyond its scan`,
        `<= ${t.networkInWorkRoundTrips}`,
        at20?.worker.inWorkRoundTrips?.p50,
        (v) => v <= t.networkInWorkRoundTrips,
      );
      add(
        name,
        `Latency mode ${ms} ms: default settings / latency-bound ceiling`,
        `>= ${t.networkVsCeiling}`,
        at20?.ratioVsCeiling,
        (v) => v >= t.networkVsCeiling,
      );
    }
  }
  const global = results.globalSet ?? 'any';
  const tagged = results.requestsTagged;
  if (tagged) {
    const file = `${tagged.fileKiB} KiB`;
    add(
      global,
      `Worker CPU per clean ${file} file, status tag on (ms)`,
      `<= ${t.workerCpuMsPerFile}`,
      tagged.untagged.workerCpuMsPerFile,
      (v) => v <= t.workerCpuMsPerFile,
    );
    if (tagged.untaggedTls) {
      add(
        global,
        `Worker CPU per clean ${file} file, status tag on, TLS (ms)`,
        `<= ${t.workerCpuMsPerFile}`,
        tagged.untaggedTls.workerCpuMsPerFile,
        (v) => v <= t.workerCpuMsPerFile,
      );
    }
  }
  if (results.startup) {
    add(global, 'Memory: idle RSS after start (MiB)', `<= ${t.idleRssMiB}`, results.startup.idleRssMiB, (v) => v <= t.idleRssMiB);
    add(global, 'Start-up: spawn to first receive, slowest run (ms)', `<= ${t.startupMs}`, results.startup.maxMs, (v) => v <= t.startupMs);
  }
  if (results.soak) {
    add(global, 'Soak: RSS drift after warm-up (MiB)', `<= ${t.soakRssDriftMiB}`, results.soak.rss.driftMiB, (v) => v <= t.soakRssDriftMiB);
    add(global, 'Soak: open descriptors drift after warm-up', `<= ${t.soakFdDrift}`, results.soak.fds.drift, (v) => v <= t.soakFdDrift);
  }
  return checks;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? NaN;
}
