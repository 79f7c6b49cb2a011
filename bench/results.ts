/**
 * A results file (bench/results/*.json): its schema, read back through it, and
 * saved. The types are the schema's; every phase fills its part of them.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { MemoryMap } from './proc.ts';

/** A measured number: JSON writes NaN (a figure that could not be taken) as null, and it reads back as NaN. */
const n = z.union([z.number(), z.null().transform(() => Number.NaN)]);
const byName = z.record(z.string(), n);
const counts = z.record(z.string(), z.number());
const spread = z.object({ records: n, p50Ms: n, p90Ms: n, meanMs: n });

/** Phases run once per signature set. */
export const SET_PHASES = ['large', 'memory', 'inflight', 'small', 'requests', 'latency', 'network', 'whole-task'] as const;
/** Phases run once, with the first signature set's clamd (imports needs none). */
export const GLOBAL_PHASES = ['imports', 'startup', 'sweep', 'soak', 'requests-tagged', 'profile', 'backfill'] as const;
export type Phase = (typeof SET_PHASES)[number] | (typeof GLOBAL_PHASES)[number];

/** Sizes and counts of the run: what each means is in `npm run bench -- --help`. */
const SIZES = [
  ...['signatureCount', 'signatureWildcards', 'concurrency', 'smallConcurrency', 'largeObjects', 'largeMiB', 'hugeMiB'],
  ...['smallFiles', 'smallFilesC1', 'smallKiB', 'infectedFiles', 'latencyFiles', 'latencyGapMs'],
  ...['inFlightObjects', 'inFlightMiB', 'inFlightConcurrency', 'startupRuns', 'idleSeconds', 'importRuns'],
  ...['networkFiles', 'networkFilesC1', 'networkKiB', 'minRoundTrips', 'taggedFiles', 'profileFiles'],
  ...['soakFiles', 'soakKiB', 'soakSampleSeconds', 'soakWarmup', 'soakUploaders', 'soakBacklog'],
] as const;

const Options = z.object({
  ...(Object.fromEntries(SIZES.map((key) => [key, z.number()])) as Record<(typeof SIZES)[number], z.ZodNumber>),
  smoke: z.boolean(),
  signatures: z.array(z.enum(['small', 'large', 'official'])),
  heapSnapshot: z.boolean(),
  networkDelays: z.array(z.number()),
  /** A worker setting run at several values in the latency mode; null: no sweep. */
  sweep: z.object({ name: z.string(), values: z.array(z.string()), delayMs: z.number() }).nullable(),
  wholeTask: z.array(z.object({ kib: z.number(), files: z.number() })),
  phases: z.array(z.enum([...SET_PHASES, ...GLOBAL_PHASES])),
  /** Experiments only: NODE_OPTIONS for the workers, Node flags in place of the production command's, settings over the benchmark's. */
  workerNodeOptions: z.string(),
  workerNodeArgs: z.array(z.string()).nullable(),
  /** Experiments only: a command the worker process runs under (valgrind, strace); its CPU figures are then that command's. */
  workerWrapper: z.array(z.string()).default([]),
  workerEnv: z.record(z.string(), z.string()),
  /** Rounds of the requests-tagged phase's CPU batches (results files before it have one). */
  taggedRuns: z.number().default(1),
});
export type BenchOptions = z.infer<typeof Options>;

/** A phase's AWS requests: per file with per-start calls and empty receives left out, and priced (bench/prices.ts). */
const Requests = z.object({
  files: z.number(),
  /** Every attempt the worker made during the phase, startup and idle polls included. */
  attempts: counts,
  failed: counts,
  emptyReceives: z.number(),
  perFile: byName,
  /** Requests per file that are charged for (S3 DELETE is free). */
  billablePerFile: n,
  /** Request charges per million files, by price class, and in total. */
  usdPerMillionFiles: z.object({ total: n }).catchall(n),
});
export type RequestSummary = z.infer<typeof Requests>;

/** A timed run of a client (bare clamd, the ceiling); cpuSeconds by process (worker or client, clamd, emulator, bench). */
const Timed = z.object({
  concurrency: z.number(),
  files: z.number(),
  bytes: z.number(),
  seconds: n,
  filesPerSecond: n,
  mibPerSecond: n,
  cpuSeconds: byName,
});
export type Timed = z.infer<typeof Timed>;

/** One worker process draining a pre-filled inbound queue, from its "worker started" line to the last message deleted. */
const Drain = Timed.extend({
  /** VmHWM of the worker process at the end of the phase. */
  peakRssMiB: n,
  /** Clean records' verdictMs (start to verdict: the slot) and durationMs (start to forward accepted), from the worker's log. */
  inWork: spread.optional(),
  untilForwarded: spread.optional(),
  /** The most messages received and not yet deleted at once, when watched. */
  maxInFlight: z.number().optional(),
  outcomes: counts,
  problems: counts,
  requests: Requests.optional(),
});
export type Drain = z.infer<typeof Drain>;

/** A drain through the latency proxy. */
const NetworkRun = Drain.extend({
  /** concurrency × wall time / files: how long each file held a slot, idle time included. */
  slotMsPerFile: n,
  /** In work beyond clamd's own time, in round trips: (durationMs − clamdMsPerFile) / roundTripMs. */
  inWorkRoundTrips: z.object({ p50: n, p90: n }).nullable(),
});
export type NetworkRun = z.infer<typeof NetworkRun>;

/** What the latency allows: concurrency / (minRoundTrips × round trip + clamd's time per file). */
const Ceiling = z.object({ concurrency: z.number(), perFileMs: n, filesPerSecond: n });
export type LatencyCeiling = z.infer<typeof Ceiling>;

const NetworkDelay = z.object({
  delayMs: z.number(),
  /** A GetObject through the proxy as a client sees it: median of several. */
  roundTripMs: n,
  worker: NetworkRun,
  workerC1: NetworkRun,
  ceiling: Ceiling,
  ratioVsC1: n,
  ratioVsCeiling: n,
});
export type NetworkDelayResult = z.infer<typeof NetworkDelay>;

const Network = z.object({
  fileKiB: z.number(),
  minRoundTrips: z.number(),
  /** Bare clamd, one file at a time: median ms per INSTREAM scan of one of the files. */
  clamdMsPerFile: n,
  delays: z.array(NetworkDelay),
});
export type NetworkResult = z.infer<typeof Network>;

const WholeTaskRow = z.object({
  fileKiB: z.number(),
  files: z.number(),
  drain: Drain,
  /** Worker + clamd CPU seconds: a task's vCPUs. */
  taskCpuSeconds: n,
  filesPerVcpuSecond: n,
  mbPerVcpuSecond: n,
  /** Fargate compute (vCPU with its memory) per million files, at PRICES. */
  usdPerMillionFiles: n,
});
export type WholeTaskRow = z.infer<typeof WholeTaskRow>;

const SetResult = z.object({
  signatures: z.object({
    name: z.enum(['small', 'large', 'official']),
    databases: z.array(z.string()),
    generatedBodySignatures: z.number(),
    /** clamd start to first PONG, and its RSS once loaded. */
    loadSeconds: n,
    clamdRssMiB: n,
  }),
  large: z
    .object({
      objects: z.number(),
      objectMiB: z.number(),
      /** Both bare runs together (bareRuns: just before and just after the worker). */
      bare: Timed,
      bareRuns: z.array(Timed),
      worker: Drain,
      /** The worker behind a TLS-terminating relay. */
      workerTls: Drain.optional(),
      /** What a plain Node.js client spends on the same I/O (bench/floor.ts). */
      floor: z
        .object({
          msPerMiB: n,
          rawMsPerMiB: n.optional(),
          rawSystemMsPerMiB: n.optional(),
          rawTlsMsPerMiB: n.optional(),
          tlsCipher: z.string().optional(),
          decryptMsPerMiB: n.optional(),
          msPerRequest: n,
          msPerRequestAtLatency: n.optional(),
          msPerRequestAtLatencyTls: n.optional(),
          msPerInstream: n,
        })
        .optional(),
      ratio: n,
    })
    .optional(),
  memory: z
    .object({
      /** One worker scanning one object of each size, alone. */
      single: z.array(z.object({ objectMiB: z.number(), peakRssMiB: n, seconds: n, workerCpuMsPerMiB: n.optional() })),
      /** The large phase's objects at once. */
      concurrent: z.object({ objects: z.number(), objectMiB: z.number(), peakRssMiB: n }).optional(),
      /** Right after "worker started", before any message. */
      idleRssMiB: n,
    })
    .optional(),
  small: z
    .object({
      files: z.number(),
      fileKiB: z.number(),
      worker: Drain,
      workerC1: Drain,
      ceiling: Timed.extend({ batchSends: z.boolean(), batchDeletes: z.boolean() }),
      ratioVsC1: n,
      ratioVsCeiling: n,
    })
    .optional(),
  requests: z.object({ clean: Requests.optional(), infected: Requests.optional(), infectedDrain: Drain.optional() }).optional(),
  latency: z
    .object({ files: z.number(), gapMs: z.number(), p50Ms: n, p90Ms: n, p99Ms: n, maxMs: n, meanMs: n, samplesMs: z.array(n) })
    .optional(),
  /** Peak RSS with inFlightObjects large objects in work at once. */
  inFlight: z.object({ objects: z.number(), objectMiB: z.number(), concurrency: z.number(), peakRssMiB: n, drain: Drain }).optional(),
  network: Network.optional(),
  wholeTask: z.array(WholeTaskRow).optional(),
});
export type SetResult = z.infer<typeof SetResult>;

const HeapSnapshot = z.object({
  file: z.string(),
  /** Sum of self sizes: the live V8 heap. */
  totalMiB: n,
  nodes: z.number(),
  byType: z.array(z.object({ type: z.string(), mib: n, count: z.number() })),
  largest: z.array(z.object({ name: z.string(), type: z.string(), mib: n, count: z.number() })),
});
export type HeapSnapshotSummary = z.infer<typeof HeapSnapshot>;

const Startup = z.object({
  runs: z.array(
    z.object({
      /** Spawn of the production command to its first ReceiveMessage, and to its "worker started" line. */
      toFirstReceiveMs: n,
      toStartedMs: n,
      /** After idleSeconds of waiting on an empty queue. */
      idleRssMiB: n,
      idlePeakRssMiB: n,
      idleFds: z.number(),
      /** Processes the worker started (the production command must be one process). */
      children: z.number(),
    }),
  ),
  idleSeconds: z.number(),
  p50Ms: n,
  maxMs: n,
  idleRssMiB: n,
  memoryMap: z.custom<MemoryMap>().optional(),
  heapSnapshot: HeapSnapshot.optional(),
});
export type StartupResult = z.infer<typeof Startup>;

const ImportRow = z.object({
  name: z.string(),
  what: z.string(),
  /** Medians once loaded; added: over bare Node; wall: spawn to exit. */
  rssMiB: n,
  heapUsedMiB: n,
  addedMiB: n,
  wallMs: n.optional(),
});
export type ImportCostRow = z.infer<typeof ImportRow>;
const Imports = z.object({ runs: z.number(), nodeArgs: z.array(z.string()), rows: z.array(ImportRow) });
export type ImportCostResult = z.infer<typeof Imports>;

const Sweep = z.object({
  name: z.string(),
  delayMs: z.number(),
  roundTripMs: n,
  clamdMsPerFile: n,
  minRoundTrips: z.number(),
  rows: z.array(z.object({ value: z.string(), run: NetworkRun, ceiling: Ceiling, ratioVsCeiling: n, ratioVsC1: n.nullable() })),
});
export type SweepResult = z.infer<typeof Sweep>;

/** t: seconds since the worker started; files: records it had finished. */
const SoakSample = z.object({ t: n, files: z.number(), rssMiB: n, fds: n });
export type SoakSample = z.infer<typeof SoakSample>;

const Soak = z.object({
  files: z.number(),
  fileKiB: z.number(),
  concurrency: z.number(),
  seconds: n,
  filesPerSecond: n,
  warmupFiles: z.number(),
  samples: z.array(SoakSample),
  /** Over the samples after warm-up: the highest value in their first and in their last quarter, and the difference. */
  rss: z.object({ firstMiB: n, lastMiB: n, driftMiB: n, minMiB: n, maxMiB: n, slopeMiBPer10kFiles: n }),
  fds: z.object({ first: n, last: n, drift: n, min: n, max: n }),
  peakRssMiB: n,
  outcomes: counts,
  problems: counts,
  cpuSeconds: byName,
});
export type SoakResult = z.infer<typeof Soak>;

/** One batch of clean files through a worker with the status tag on (moto, versioned bucket). */
const TaggedBatch = z.object({
  files: z.number(),
  uploadTags: z.record(z.string(), z.string()),
  concurrency: z.number(),
  outcomes: counts,
  /** statusTag of the worker's clean log lines, tallied ("none": not written). */
  statusTags: counts,
  problems: counts,
  /** Versions whose tag set the driver read back and found as expected. */
  verifiedVersions: z.number(),
  requests: Requests,
  tls: z.boolean().optional(),
  /** The consumer's CPU from its start line to the drained queue; "Warm": after the first warmupFiles files. */
  workerCpuSeconds: n.optional(),
  workerCpuMsPerFile: n.optional(),
  warmupFiles: z.number().optional(),
  workerCpuMsPerFileWarm: n.optional(),
});
export type TaggedBatch = z.infer<typeof TaggedBatch>;

/** A consumer's CPU per clean file in one batch; "Warm": after its first warmupFiles files. */
const BatchCpu = z.object({ msPerFile: n.optional(), msPerFileWarm: n.optional() });
/** One round of the batches CPU is judged on, run one after another: the worker's and the naive script's, plain and through TLS. */
const TaggedCpuRound = z.object({
  untagged: BatchCpu,
  untaggedTls: BatchCpu.optional(),
  naive: BatchCpu.optional(),
  naiveTls: BatchCpu.optional(),
});
export type TaggedCpuRound = z.infer<typeof TaggedCpuRound>;

/** A round's CPU figures, from its batches (a results file from before the rounds: its one round). */
export function cpuRound(
  batches: { untagged: TaggedBatch } & Partial<Record<Exclude<keyof TaggedCpuRound, 'untagged'>, TaggedBatch>>,
): TaggedCpuRound {
  const cpu = (batch: TaggedBatch) => ({ msPerFile: batch.workerCpuMsPerFile, msPerFileWarm: batch.workerCpuMsPerFileWarm });
  return {
    untagged: cpu(batches.untagged),
    ...(batches.untaggedTls ? { untaggedTls: cpu(batches.untaggedTls) } : {}),
    ...(batches.naive ? { naive: cpu(batches.naive) } : {}),
    ...(batches.naiveTls ? { naiveTls: cpu(batches.naiveTls) } : {}),
  };
}

const Tagged = z.object({
  fileKiB: z.number(),
  /** SCAN_STATUS_TAG of the workers. */
  statusTag: z.string(),
  untagged: TaggedBatch,
  pretagged: TaggedBatch,
  /** The untagged batch again, the worker behind a TLS-terminating relay. */
  untaggedTls: TaggedBatch.optional(),
  /** The untagged batch drained by the naive Python script (bench/naive-worker.py), plain and through TLS: the yardstick of issue 15. */
  naive: TaggedBatch.optional(),
  naiveTls: TaggedBatch.optional(),
  /**
   * The CPU of every round (`--tagged-runs`), the batches above first: one round
   * moves by a quarter on a shared machine, so the report takes the median.
   */
  cpuRounds: z.array(TaggedCpuRound).optional(),
});
export type TaggedRequestsResult = z.infer<typeof Tagged>;

/** Where the worker's busy time went (bench/profile.ts), for one profiled run. */
const ProfileRun = z.object({
  label: z.string(),
  what: z.string(),
  files: z.number(),
  busyMs: n,
  layers: z.array(z.object({ layer: z.string(), ms: n, share: n })),
  functions: z.array(z.object({ name: z.string(), source: z.string(), layer: z.string(), ms: n, share: n })),
  /** The .cpuprofile and its folded stacks, in the run directory. */
  output: z.object({ cpuprofile: z.string(), folded: z.string() }),
});
export type ProfileRun = z.infer<typeof ProfileRun>;

/** The backfill phase (bench/backfill.ts): live uploads' upload-to-verdict with no backlog, behind one on the inbound queue, beside one on RESCAN_QUEUE. */
const BackfillRun = z.object({
  mode: z.enum(['quiet', 'shared', 'lane']),
  /** Rescan events queued before the worker started, and still queued at the last live verdict. */
  backlog: z.number(),
  backlogLeft: z.number(),
  uploads: z.number(),
  /** Upload to forward of the live files that got their verdict in time; timedOut: those that did not. */
  p50Ms: n,
  p99Ms: n,
  maxMs: n,
  timedOut: z.number(),
  /** Backlog events finished per second, from the worker's start to the last live verdict. */
  backlogPerSecond: n,
  /** Lane run: whether the worker took anything from RESCAN_QUEUE at all. */
  laneRead: z.boolean().optional(),
  samplesMs: z.array(n),
});
export type BackfillRun = z.infer<typeof BackfillRun>;
export type BackfillMode = BackfillRun['mode'];
/** millionOnInboundMinutes: the shared run's rate, extrapolated: a fresh upload's wait behind a million queued rescan events. */
const Backfill = z.object({
  concurrency: z.number(),
  fileKiB: z.number(),
  gapMs: z.number(),
  runs: z.array(BackfillRun),
  millionOnInboundMinutes: n,
});
export type BackfillResult = z.infer<typeof Backfill>;

const TargetCheck = z.object({ set: z.string(), name: z.string(), target: z.string(), value: n.nullable(), met: z.boolean().nullable() });
export type TargetCheck = z.infer<typeof TargetCheck>;

const Machine = z.object({
  cpuModel: z.string(),
  cpus: z.number(),
  memoryGiB: z.number(),
  kernel: z.string(),
  platform: z.string(),
  node: z.string(),
  clamav: z.string(),
});
export type Machine = z.infer<typeof Machine>;

const Results = z.object({
  schema: z.literal([1, 2]),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationSeconds: z.number(),
  /** The command line that produced this file. */
  command: z.string(),
  machine: Machine,
  options: Options,
  /** The worker's command line: package.json's "worker" script and its Node flags; cli: --worker-cli's bundle. */
  production: z.object({ script: z.string(), nodeArgs: z.array(z.string()), cli: z.string().optional() }).optional(),
  /** The price list the costs were computed at (bench/prices.ts). */
  prices: z.record(z.string(), z.unknown()),
  sets: z.array(SetResult),
  /** Signature set whose clamd served the phases run once. */
  globalSet: z.string().optional(),
  imports: Imports.optional(),
  startup: Startup.optional(),
  sweep: Sweep.optional(),
  soak: Soak.optional(),
  requestsTagged: Tagged.optional(),
  profile: z.object({ dir: z.string(), runs: z.array(ProfileRun) }).optional(),
  backfill: Backfill.optional(),
  targets: z.array(TargetCheck),
  /** Anything that went wrong in a phase without stopping the run (the run then exits 1). */
  errors: z.array(z.string()),
  /** Signs that a figure may not be trustworthy, such as a noisy machine. */
  warnings: z.array(z.string()).default([]),
});
export type BenchResults = z.infer<typeof Results>;

/** A results file, checked against the schema; a mismatch names the file and the first fields that differ. */
export function readResults(path: string): BenchResults {
  const parsed = Results.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path}: not a results file: ${z.prettifyError(parsed.error).split('\n').slice(0, 6).join('; ')}`);
  return parsed.data;
}

export function saveResults(path: string, results: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}
