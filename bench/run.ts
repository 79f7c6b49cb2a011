/**
 * `npm run bench`: measures the worker against the limits that bound it (issue 4)
 * on the local stack, and writes a results file (and, with --doc,
 * docs/benchmarks.md). See docs/benchmarks.md for the method.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ClamdClient } from '../src/scan/clamd-client.ts';
import { startBenchClamd, type BenchClamd } from './clamd.ts';
import { chunksOf, MIB, randomBuffer } from './data.ts';
import { BENCH_RESOURCES, startEmulatorProcess, type EmulatorHandle } from './emulator.ts';
import { measureImportCost } from './import-cost.ts';
import { networkPhase, sweepPhase } from './network.ts';
import {
  clamdRssMiB,
  inFlightPhase,
  largePhase,
  latencyPhase,
  memoryPhase,
  prepare,
  requestsPhase,
  smallPhase,
  type Prepared,
  type Stack,
} from './phases.ts';
import { ensureBuilt, productionCommand } from './production.ts';
import { soakPhase } from './soak.ts';
import { startupPhase } from './startup.ts';
import { taggedRequestsPhase } from './tagged-requests.ts';
import { wholeTaskPhase } from './whole-task.ts';
import { profilePhase } from './profile-phase.ts';
import { backfillPhase } from './backfill.ts';
import { PRICES } from './prices.ts';
import { describeMachine, round } from './proc.ts';
import { FULL_OPTIONS } from './options.ts';
import { checkTargets, DOC_PATH, renderDoc, terminalReport } from './report.ts';
import { GLOBAL_PHASES, SET_PHASES, saveResults, type BenchOptions, type BenchResults, type Phase, type SetResult } from './results.ts';
import { OFFICIAL_DATABASE_DIR, TEST_SIGNATURES_DIR, writeLargeSignatureSet } from './signatures.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `Usage: npm run bench -- [options]      (node bench/run.ts [options])

  --smoke                   tiny sizes, small signatures only: checks that every figure is produced
  --signatures <set>        small | large | both | official | all   (default both; smoke, --soak, --sweep, --profile: small)
  --signature-count <n>     generated body signatures in the large set (default 100000)
  --signature-wildcards <f> share of them with a wildcard byte, 0-1 (default 0)
  --phases <list>           comma-separated, default all of them:
                              per signature set: large,memory,inflight,small,requests,latency,network,
                                whole-task (not for the small set)
                              once: imports,startup,sweep,soak,requests-tagged,profile,backfill

 Emulator speed (no added latency):
  --concurrency <n>         CONCURRENCY for large objects, memory, infected, latency (default 4)
  --small-concurrency <n>   CONCURRENCY for the small files, and the ceiling's (default 8)
  --large-objects <n>       large objects (default 4)
  --large-mib <n>           size of each, MiB (default 256)
  --huge-mib <n>            the single big object for the memory figure, MiB (default 1024)
  --inflight-objects <n>    large objects in work at once for the in-flight memory figure (default 16)
  --inflight-mib <n>        size of each, MiB (default 128)
  --inflight-concurrency <n> CONCURRENCY for it (default 16)
  --small-files <n>         small files (default 3000)
  --small-files-c1 <n>      of which the CONCURRENCY=1 run takes (default 1000)
  --small-kib <n>           size of each, KiB (default 10)
  --infected-files <n>      EICAR files for the per-infected-file request count (default 100)
  --latency-files <n>       files uploaded one at a time for the upload-to-forward latency (default 50)
  --latency-gap-ms <n>      pause between them (default 100)

 Start-up and memory at rest:
  --startup-runs <n>        workers started one after another (default 5)
  --idle-seconds <n>        each then waits this long on an empty queue before its idle RSS is read (default 5)
  --import-runs <n>         fresh processes per row of the import-cost table (default 3)
  --heap-snapshot           also summarize a heap snapshot of the first idle worker (kept with --keep)

 Latency mode (every AWS request through a proxy that delays it):
  --network-delays <list>   delays in ms, comma-separated (default 20,50)
  --network-files <n>       files of the default-settings runs (default 1000)
  --network-files-c1 <n>    of which the CONCURRENCY=1 runs take (default 150)
  --network-kib <n>         size of each, KiB (default 20)
  --min-round-trips <x>     round trips a clean file must hold its slot for, for the ceiling (default 1)
  --sweep <NAME=v1,v2,..>   run the latency mode once per value of the worker setting NAME (an
                            environment variable: concurrency=1,4,8,16,32 is CONCURRENCY) and tabulate;
                            alone, runs only the sweep (full run: CONCURRENCY=1,2,4,8,16,32)
  --sweep-delay <ms>        the delay for the sweep (default 20)

 Soak:
  --soak                    run the soak alone (it is also part of the full run)
  --soak-files <n>          small files through one worker (default 50000)
  --soak-kib <n>            size of each, KiB (default 10)
  --soak-sample-seconds <s> RSS and descriptor sampling interval (default 2)
  --soak-warmup <f>         share of the files whose samples are warm-up, 0-0.9 (default 0.1)
  --soak-uploaders <n>      uploads at once (default 4)
  --soak-backlog <n>        uploads pause while the inbound queue holds more than this (default 1000)

 Requests with the status tag on (moto_server, versioned bucket; a count, not timed):
  --tagged-files <n>        clean files per batch: one batch uploaded untagged, one with a tag (default 300)
  --tagged-runs <n>         rounds of the CPU batches (worker and naive script, plain and TLS); the
                            report takes the median (default 3)

 The whole task (worker + clamd CPU per vCPU, through TLS, signature sets other than small):
  --whole-task <list>       KiB:files pairs, comma-separated (default 100:2000,10240:40)

 Profiles (flame graphs of the worker in the run directory's profiles/, kept):
  --profile                 run the profile phase alone (it is also part of the full run)
  --profile-files <n>       clean files of its small-file run (default 300)

 The worker (it runs as package.json's "worker" script, node <flags> dist/cli.js worker):
  --worker-env KEY=VALUE    a setting for every worker, over the benchmark's own (repeatable); a
                            phase's own CONCURRENCY (the =1 baselines, a sweep) still wins
  --worker-node-args <s>    Node flags in place of the production command's (experiments)
  --worker-cli <file>       run this compiled CLI in place of the production command's (A/B of bundles)
  --worker-node-options <s> NODE_OPTIONS for the worker processes (experiments; default none)
  --worker-wrapper <s>      run each worker under this command, e.g. "valgrind --tool=callgrind
                            --callgrind-out-file=/tmp/cg/%p": instruction counts that the machine's
                            speed does not move (experiments; its CPU figures are then the wrapper's)

  --out <file>              results file (default bench/results/<timestamp>.json)
  --doc                     also rewrite docs/benchmarks.md from the results
  --keep                    keep the run directory (worker logs, request counts)
  -h, --help`;

const FULL = FULL_OPTIONS;

const SMOKE: Omit<BenchOptions, 'smoke'> = {
  ...FULL,
  signatures: ['small'],
  signatureCount: 1000,
  concurrency: 2,
  smallConcurrency: 4,
  largeObjects: 2,
  largeMiB: 2,
  hugeMiB: 4,
  smallFiles: 40,
  smallFilesC1: 40,
  infectedFiles: 5,
  latencyFiles: 5,
  latencyGapMs: 10,
  inFlightObjects: 2,
  inFlightMiB: 2,
  inFlightConcurrency: 2,
  startupRuns: 2,
  idleSeconds: 1,
  importRuns: 1,
  networkDelays: [20],
  networkFiles: 20,
  networkFilesC1: 5,
  sweep: { name: 'CONCURRENCY', values: ['1', '2'], delayMs: 20 },
  soakFiles: 200,
  soakSampleSeconds: 0.2,
  soakBacklog: 50,
  taggedFiles: 10,
  taggedRuns: 2,
  // The two sizes deploy/lib/cost.ts reads (100 KiB and 10 MiB), a few files each.
  wholeTask: [
    { kib: 100, files: 10 },
    { kib: 10240, files: 1 },
  ],
  profileFiles: 10,
};

function parseOptions(
  argv: string[],
): { options: BenchOptions; out: string | undefined; doc: boolean; keep: boolean; cli: string | undefined } | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean' },
      signatures: { type: 'string' },
      'signature-count': { type: 'string' },
      'signature-wildcards': { type: 'string' },
      concurrency: { type: 'string' },
      'small-concurrency': { type: 'string' },
      'large-objects': { type: 'string' },
      'large-mib': { type: 'string' },
      'huge-mib': { type: 'string' },
      'small-files': { type: 'string' },
      'small-files-c1': { type: 'string' },
      'small-kib': { type: 'string' },
      'infected-files': { type: 'string' },
      'latency-files': { type: 'string' },
      'latency-gap-ms': { type: 'string' },
      'inflight-objects': { type: 'string' },
      'inflight-mib': { type: 'string' },
      'inflight-concurrency': { type: 'string' },
      'startup-runs': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'import-runs': { type: 'string' },
      'heap-snapshot': { type: 'boolean' },
      'network-delays': { type: 'string' },
      'network-files': { type: 'string' },
      'network-files-c1': { type: 'string' },
      'network-kib': { type: 'string' },
      'min-round-trips': { type: 'string' },
      sweep: { type: 'string' },
      'sweep-delay': { type: 'string' },
      soak: { type: 'boolean' },
      'soak-files': { type: 'string' },
      'soak-kib': { type: 'string' },
      'soak-sample-seconds': { type: 'string' },
      'soak-warmup': { type: 'string' },
      'soak-uploaders': { type: 'string' },
      'soak-backlog': { type: 'string' },
      'tagged-files': { type: 'string' },
      'tagged-runs': { type: 'string' },
      'whole-task': { type: 'string' },
      profile: { type: 'boolean' },
      'profile-files': { type: 'string' },
      phases: { type: 'string' },
      'worker-env': { type: 'string', multiple: true },
      'worker-node-args': { type: 'string' },
      'worker-cli': { type: 'string' },
      'worker-node-options': { type: 'string' },
      'worker-wrapper': { type: 'string' },
      out: { type: 'string' },
      doc: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const smoke = values.smoke === true;
  const base = smoke ? SMOKE : FULL;
  const int = (name: string, value: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max)
      throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
    return parsed;
  };
  const sets: Record<string, BenchOptions['signatures']> = {
    small: ['small'],
    large: ['large'],
    both: ['small', 'large'],
    official: ['official'],
    all: ['small', 'large', 'official'],
  };
  // --soak and --sweep alone run just that, with the small signature set.
  const only: Phase[] = [
    ...(values.sweep !== undefined ? (['sweep'] as const) : []),
    ...(values.soak ? (['soak'] as const) : []),
    ...(values.profile ? (['profile'] as const) : []),
  ];
  const signatures =
    values.signatures === undefined
      ? only.length > 0 && values.phases === undefined
        ? (['small'] as BenchOptions['signatures'])
        : base.signatures
      : sets[values.signatures];
  if (!signatures) throw new Error(`--signatures must be one of ${Object.keys(sets).join(', ')}, got ${values.signatures}`);
  const known: readonly string[] = [...SET_PHASES, ...GLOBAL_PHASES];
  const phases =
    values.phases === undefined
      ? only.length > 0
        ? only
        : base.phases
      : (values.phases
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean) as Phase[]);
  for (const phase of phases) if (!known.includes(phase)) throw new Error(`--phases: unknown phase ${phase}; known: ${known.join(', ')}`);
  const fraction = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!(parsed >= min && parsed <= max)) throw new Error(`--${name} must be a number from ${min} to ${max}, got ${value}`);
    return parsed;
  };
  const wildcards = fraction('signature-wildcards', values['signature-wildcards'], base.signatureWildcards, 0, 1);
  const delays =
    values['network-delays'] === undefined
      ? base.networkDelays
      : values['network-delays'].split(',').map((d) => int('network-delays', d.trim(), 0, 0, 10_000));
  if (delays.length === 0) throw new Error('--network-delays: give at least one delay');
  const sweepDelay = int('sweep-delay', values['sweep-delay'], base.sweep?.delayMs ?? 20, 0, 10_000);
  const sweep =
    values.sweep === undefined
      ? base.sweep
        ? { ...base.sweep, delayMs: sweepDelay }
        : null
      : { ...parseSweep(values.sweep), delayMs: sweepDelay };
  const workerEnv: Record<string, string> = {};
  for (const pair of values['worker-env'] ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (!match) throw new Error(`--worker-env must be KEY=VALUE, got ${pair}`);
    workerEnv[match[1]!] = match[2]!;
  }
  const nodeArgs = values['worker-node-args'];
  const options: BenchOptions = {
    smoke,
    signatures,
    signatureCount: int('signature-count', values['signature-count'], base.signatureCount, 1),
    signatureWildcards: wildcards,
    concurrency: int('concurrency', values.concurrency, base.concurrency, 1, 256),
    smallConcurrency: int('small-concurrency', values['small-concurrency'], base.smallConcurrency, 1, 256),
    largeObjects: int('large-objects', values['large-objects'], base.largeObjects, 1),
    largeMiB: int('large-mib', values['large-mib'], base.largeMiB, 1, 1900),
    hugeMiB: int('huge-mib', values['huge-mib'], base.hugeMiB, 1, 1900),
    smallFiles: int('small-files', values['small-files'], base.smallFiles, 1),
    smallFilesC1: 0,
    smallKiB: int('small-kib', values['small-kib'], base.smallKiB, 1, 10 * 1024),
    infectedFiles: int('infected-files', values['infected-files'], base.infectedFiles, 1),
    latencyFiles: int('latency-files', values['latency-files'], base.latencyFiles, 1),
    latencyGapMs: int('latency-gap-ms', values['latency-gap-ms'], base.latencyGapMs, 0),
    inFlightObjects: int('inflight-objects', values['inflight-objects'], base.inFlightObjects, 1, 256),
    inFlightMiB: int('inflight-mib', values['inflight-mib'], base.inFlightMiB, 1, 1900),
    inFlightConcurrency: int('inflight-concurrency', values['inflight-concurrency'], base.inFlightConcurrency, 1, 256),
    startupRuns: int('startup-runs', values['startup-runs'], base.startupRuns, 1, 100),
    idleSeconds: int('idle-seconds', values['idle-seconds'], base.idleSeconds, 0, 600),
    importRuns: int('import-runs', values['import-runs'], base.importRuns, 1, 100),
    heapSnapshot: values['heap-snapshot'] ?? base.heapSnapshot,
    networkDelays: delays,
    networkFiles: int('network-files', values['network-files'], base.networkFiles, 1),
    networkFilesC1: 0,
    networkKiB: int('network-kib', values['network-kib'], base.networkKiB, 1, 10 * 1024),
    minRoundTrips: fraction('min-round-trips', values['min-round-trips'], base.minRoundTrips, 0, 100),
    sweep,
    soakFiles: int('soak-files', values['soak-files'], base.soakFiles, 1),
    soakKiB: int('soak-kib', values['soak-kib'], base.soakKiB, 1, 10 * 1024),
    soakSampleSeconds: fraction('soak-sample-seconds', values['soak-sample-seconds'], base.soakSampleSeconds, 0.05, 600),
    soakWarmup: fraction('soak-warmup', values['soak-warmup'], base.soakWarmup, 0, 0.9),
    soakUploaders: int('soak-uploaders', values['soak-uploaders'], base.soakUploaders, 1, 64),
    soakBacklog: int('soak-backlog', values['soak-backlog'], base.soakBacklog, 1),
    taggedFiles: int('tagged-files', values['tagged-files'], base.taggedFiles, 1, 100_000),
    taggedRuns: int('tagged-runs', values['tagged-runs'], base.taggedRuns, 1, 20),
    wholeTask: values['whole-task'] === undefined ? base.wholeTask : parseWholeTask(values['whole-task']),
    profileFiles: int('profile-files', values['profile-files'], base.profileFiles, 1, 100_000),
    phases,
    workerNodeOptions: values['worker-node-options'] ?? base.workerNodeOptions,
    workerNodeArgs: nodeArgs === undefined ? base.workerNodeArgs : nodeArgs.split(/\s+/).filter(Boolean),
    workerWrapper: values['worker-wrapper'] === undefined ? base.workerWrapper : values['worker-wrapper'].split(/\s+/).filter(Boolean),
    workerEnv: { ...base.workerEnv, ...workerEnv },
  };
  options.networkFilesC1 = Math.min(options.networkFiles, int('network-files-c1', values['network-files-c1'], base.networkFilesC1, 1));
  options.smallFilesC1 = Math.min(options.smallFiles, int('small-files-c1', values['small-files-c1'], base.smallFilesC1, 1));
  return { options, out: values.out, doc: values.doc === true, keep: values.keep === true, cli: values['worker-cli'] };
}

/** "100:2000,10240:40" -> 2000 files of 100 KiB and 40 of 10 MiB. */
function parseWholeTask(text: string): Array<{ kib: number; files: number }> {
  const rows = text.split(',').map((pair) => {
    const match = /^\s*(\d+):(\d+)\s*$/.exec(pair);
    if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new Error(`--whole-task must be KiB:files pairs, got ${text}`);
    return { kib: Number(match[1]), files: Number(match[2]) };
  });
  return rows;
}

/** "concurrency=1,4,8" -> CONCURRENCY at 1, 4 and 8 (the name is an environment variable of the worker's). */
function parseSweep(text: string): { name: string; values: string[] } {
  const match = /^([A-Za-z_][A-Za-z0-9_-]*)=(.+)$/.exec(text.trim());
  const values =
    match?.[2]
      ?.split(',')
      .map((value) => value.trim())
      .filter(Boolean) ?? [];
  if (!match || values.length === 0) throw new Error(`--sweep must be NAME=v1,v2,... (e.g. concurrency=1,4,8,16,32), got ${text}`);
  return { name: match[1]!.toUpperCase().replace(/-/g, '_'), values };
}

function clamavVersion(): string {
  try {
    return execFileSync('/usr/sbin/clamd', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'clamd version unknown';
  }
}

function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function sweepConcurrencies(options: BenchOptions): number[] {
  if (options.sweep?.name !== 'CONCURRENCY') return [];
  return options.sweep.values.map(Number).filter((value) => Number.isInteger(value));
}

async function startClamdFor(stack: Stack, set: SetResult['signatures']['name']): Promise<BenchClamd> {
  const { options, runDir } = stack;
  let signaturesDir = TEST_SIGNATURES_DIR;
  if (set === 'large') {
    progress(`generating ${options.signatureCount} body signatures`);
    signaturesDir = await writeLargeSignatureSet(join(runDir, 'signatures-large'), options.signatureCount, {
      wildcardShare: options.signatureWildcards,
    });
  }
  progress(`starting clamd with the ${set} signature set`);
  const clamd = await startBenchClamd({
    workDir: join(runDir, `clamd-${set}`),
    signaturesDir,
    ...(set === 'official' ? { officialDir: OFFICIAL_DATABASE_DIR } : {}),
    streamMaxBytes: stack.maxFileMiB * MIB,
    // Above every concurrency a phase may run at, the worker's default included
    // (not known here; the lead may raise it), so that no scan waits for a thread.
    maxThreads:
      Math.max(32, options.concurrency, options.smallConcurrency, options.inFlightConcurrency, ...sweepConcurrencies(options)) + 2,
    // A big object against a large set can take minutes; the default 90 s would cut it short.
    limits: { maxScanTimeMs: 3_600_000 },
  });
  // The first scan after a load pays one-off costs; keep them out of the figures.
  const warm = randomBuffer(MIB);
  await new ClamdClient({ address: clamd.address }).scan(chunksOf(warm));
  return clamd;
}

function attempter(stack: Stack, name: string) {
  return async <T>(phase: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (error) {
      const message = `${name}/${phase}: ${(error as Error)?.stack ?? String(error)}`;
      stack.errors.push(message);
      progress(`FAILED ${message}`);
      return undefined;
    }
  };
}

async function runSet(stack: Stack, prepared: Prepared, name: SetResult['signatures']['name']): Promise<SetResult> {
  const clamd = await startClamdFor(stack, name);
  const result: SetResult = {
    signatures: {
      name,
      databases: clamd.databases,
      generatedBodySignatures: name === 'large' ? stack.options.signatureCount : 0,
      loadSeconds: round(clamd.loadMs / 1000, 2),
      clamdRssMiB: clamdRssMiB(clamd),
    },
  };
  const phases = new Set(stack.options.phases);
  const attempt = attempter(stack, name);
  try {
    if (phases.has('large')) result.large = await attempt('large', () => largePhase(stack, clamd, prepared, name));
    if (phases.has('memory')) result.memory = await attempt('memory', () => memoryPhase(stack, clamd, prepared, name, result.large));
    if (phases.has('inflight')) result.inFlight = await attempt('inflight', () => inFlightPhase(stack, clamd, prepared, name));
    if (phases.has('small')) result.small = await attempt('small', () => smallPhase(stack, clamd, prepared, name));
    if (phases.has('requests')) result.requests = await attempt('requests', () => requestsPhase(stack, clamd, name, result.small));
    if (phases.has('latency')) result.latency = await attempt('latency', () => latencyPhase(stack, clamd, name));
    if (phases.has('network')) result.network = await attempt('network', () => networkPhase(stack, clamd, prepared, name));
    if (phases.has('whole-task') && name !== 'small')
      result.wholeTask = await attempt('whole-task', () => wholeTaskPhase(stack, clamd, name));
  } finally {
    await clamd.stop();
  }
  return result;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv);
  if (!parsed) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24)
    throw new Error(
      `Node ${process.version} cannot run the .ts sources; use the project's Node 24 (npm run bench, or npx node bench/run.ts)`,
    );
  const { options } = parsed;
  if (options.signatures.includes('official') && !(await hasOfficialDatabase())) {
    throw new Error(`--signatures official: no official database (.cvd/.cld) in ${OFFICIAL_DATABASE_DIR}; run freshclam first`);
  }
  const [wrapperProgram] = options.workerWrapper;
  if (wrapperProgram !== undefined && !isProgram(wrapperProgram)) {
    throw new Error(`--worker-wrapper: "${wrapperProgram}" is not an executable file or a program on PATH`);
  }
  const started = new Date();
  const runDir = mkdtempSync(join(tmpdir(), 'bucketscan-bench-'));
  progress(`run directory (worker logs, request counts): ${runDir}`);
  const stamp = started
    .toISOString()
    .replace(/[:]/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const out = resolve(parsed.out ?? join(ROOT, 'bench', 'results', `${stamp}${options.smoke ? '-smoke' : ''}.json`));

  const production = productionCommand();
  const command = {
    nodeArgs: options.workerNodeArgs ?? production.nodeArgs,
    cli: parsed.cli ? resolve(parsed.cli) : production.cli,
    wrapper: options.workerWrapper,
  };
  if (parsed.cli) {
    if (!existsSync(command.cli)) throw new Error(`--worker-cli: no such file ${command.cli}`);
  } else {
    ensureBuilt(command.cli, progress);
  }
  progress(`the worker runs as: ${[...command.wrapper, 'node', ...command.nodeArgs, relative(ROOT, command.cli), 'worker'].join(' ')}`);

  let emulator: EmulatorHandle | undefined;
  const errors: string[] = [];
  const warnings: string[] = [];
  const sets: SetResult[] = [];
  const clients: Array<{ destroy(): void }> = [];
  const global: Pick<BenchResults, 'globalSet' | 'imports' | 'startup' | 'sweep' | 'soak' | 'requestsTagged' | 'profile' | 'backfill'> = {};
  const selected = new Set(options.phases);
  try {
    if (selected.has('imports')) {
      progress('import cost: fresh processes loading each dependency');
      try {
        global.imports = await measureImportCost({ runs: options.importRuns, nodeArgs: command.nodeArgs, cli: command.cli, progress });
      } catch (error) {
        errors.push(`imports: ${(error as Error)?.stack ?? String(error)}`);
        progress(`FAILED imports: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
    emulator = await startEmulatorProcess();
    progress(`emulator (pid ${emulator.pid}) at ${emulator.endpoint}`);
    const common = {
      region: BENCH_RESOURCES.region,
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    };
    const s3 = new S3Client({ ...common, forcePathStyle: true });
    const sqs = new SQSClient(common);
    clients.push(s3, sqs);
    const stack: Stack = {
      options,
      emulator,
      s3,
      sqs,
      runDir,
      command,
      maxFileMiB: Math.min(2047, Math.max(options.largeMiB, options.hugeMiB, options.inFlightMiB) + 64),
      progress,
      errors,
      warnings,
    };
    const prepared = await prepare(stack);
    if (SET_PHASES.some((phase) => selected.has(phase))) {
      for (const name of options.signatures) sets.push(await runSet(stack, prepared, name));
    }
    if (['startup', 'sweep', 'soak', 'requests-tagged', 'profile', 'backfill'].some((phase) => selected.has(phase as Phase))) {
      const name = options.signatures[0] ?? 'small';
      global.globalSet = name;
      const clamd = await startClamdFor(stack, name);
      const attempt = attempter(stack, name);
      try {
        if (selected.has('startup')) global.startup = await attempt('startup', () => startupPhase(stack, clamd));
        if (selected.has('sweep')) global.sweep = await attempt('sweep', () => sweepPhase(stack, clamd, prepared));
        if (selected.has('soak')) global.soak = await attempt('soak', () => soakPhase(stack, clamd));
        if (selected.has('requests-tagged'))
          global.requestsTagged = await attempt('requests-tagged', () => taggedRequestsPhase(stack, clamd));
        if (selected.has('profile')) global.profile = await attempt('profile', () => profilePhase(stack, clamd));
        if (selected.has('backfill')) global.backfill = await attempt('backfill', () => backfillPhase(stack, clamd));
      } finally {
        await clamd.stop();
      }
    }
  } catch (error) {
    errors.push(`run: ${(error as Error)?.stack ?? String(error)}`);
    progress(`FAILED ${(error as Error)?.stack ?? String(error)}`);
  } finally {
    for (const client of clients) client.destroy();
    await emulator?.stop();
  }

  const finished = new Date();
  const results: BenchResults = {
    schema: 2,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
    machine: describeMachine(clamavVersion()),
    options,
    production: { script: production.text, nodeArgs: command.nodeArgs, ...(parsed.cli ? { cli: command.cli } : {}) },
    prices: PRICES,
    sets,
    ...global,
    targets: [],
    errors,
    warnings,
  };
  results.targets = checkTargets(results);
  saveResults(out, results);
  const shown = relative(ROOT, out).startsWith('..') ? out : relative(ROOT, out);
  process.stdout.write(terminalReport(results, shown));
  if (parsed.doc) {
    writeFileSync(DOC_PATH, renderDoc(results, shown));
    progress(`wrote ${relative(ROOT, DOC_PATH)}`);
  }
  if (parsed.keep || errors.length > 0 || global.profile)
    progress(`kept ${runDir}${global.profile ? ` (flame graphs in ${global.profile.dir})` : ''}`);
  else rmSync(runDir, { recursive: true, force: true });
  return errors.length > 0 ? 1 : 0;
}

async function hasOfficialDatabase(): Promise<boolean> {
  const { readdirSync } = await import('node:fs');
  try {
    return readdirSync(OFFICIAL_DATABASE_DIR).some((name) => /\.(cvd|cld)$/.test(name));
  } catch {
    return false;
  }
}

/** Whether `name` is an executable file (a path) or one on PATH. */
function isProgram(name: string): boolean {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return executable(name);
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && executable(join(dir, name)));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(2);
  },
);
