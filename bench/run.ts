/**
 * `npm run bench`: measures the worker against the limits that bound it (issue 4)
 * on the local stack, and writes a results file (and, with --doc,
 * docs/benchmarks.md). See docs/benchmarks.md for the method.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { clamdRssMiB, largePhase, latencyPhase, memoryPhase, prepare, requestsPhase, smallPhase, type Stack } from './phases.ts';
import { PRICES } from './prices.ts';
import { describeMachine, round } from './proc.ts';
import { DOC_PATH, renderDoc, terminalReport } from './report.ts';
import { checkTargets, FULL_OPTIONS, type BenchOptions, type BenchResults, type SetResult } from './results.ts';
import { OFFICIAL_DATABASE_DIR, TEST_SIGNATURES_DIR, writeLargeSignatureSet } from './signatures.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `Usage: npm run bench -- [options]      (node bench/run.ts [options])

  --smoke                   tiny sizes, small signatures only: checks that every figure is produced
  --signatures <set>        small | large | both | official | all   (default both; smoke: small)
  --signature-count <n>     generated body signatures in the large set (default 100000)
  --signature-wildcards <f> share of them with a wildcard byte, 0-1 (default 0)
  --concurrency <n>         CONCURRENCY for large objects, memory, infected, latency (default 4)
  --small-concurrency <n>   CONCURRENCY for the small files, and the ceiling's (default 8)
  --large-objects <n>       large objects (default 4)
  --large-mib <n>           size of each, MiB (default 256)
  --huge-mib <n>            the single big object for the memory figure, MiB (default 1024)
  --small-files <n>         small files (default 3000)
  --small-files-c1 <n>      of which the CONCURRENCY=1 run takes (default 1000)
  --small-kib <n>           size of each, KiB (default 10)
  --infected-files <n>      EICAR files for the per-infected-file request count (default 100)
  --latency-files <n>       files uploaded one at a time for the latency (default 50)
  --latency-gap-ms <n>      pause between them (default 100)
  --phases <list>           comma-separated: large,memory,small,requests,latency (default all)
  --worker-node-options <s> NODE_OPTIONS for the worker processes (default: the deployed --max-semi-space-size=1)
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
};

function parseOptions(argv: string[]): { options: BenchOptions; out: string | undefined; doc: boolean; keep: boolean } | undefined {
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
      phases: { type: 'string' },
      'worker-node-options': { type: 'string' },
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
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
    return parsed;
  };
  const sets: Record<string, BenchOptions['signatures']> = {
    small: ['small'],
    large: ['large'],
    both: ['small', 'large'],
    official: ['official'],
    all: ['small', 'large', 'official'],
  };
  const signatures = values.signatures === undefined ? base.signatures : sets[values.signatures];
  if (!signatures) throw new Error(`--signatures must be one of ${Object.keys(sets).join(', ')}, got ${values.signatures}`);
  const phases = values.phases === undefined ? base.phases : (values.phases.split(',').map((p) => p.trim()) as BenchOptions['phases']);
  for (const phase of phases) if (!FULL.phases.includes(phase)) throw new Error(`--phases: unknown phase ${phase}`);
  const wildcards = values['signature-wildcards'] === undefined ? base.signatureWildcards : Number(values['signature-wildcards']);
  if (!(wildcards >= 0 && wildcards <= 1)) throw new Error(`--signature-wildcards must be from 0 to 1, got ${values['signature-wildcards']}`);
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
    phases,
    workerNodeOptions: values['worker-node-options'] ?? base.workerNodeOptions,
  };
  options.smallFilesC1 = Math.min(options.smallFiles, int('small-files-c1', values['small-files-c1'], base.smallFilesC1, 1));
  return { options, out: values.out, doc: values.doc === true, keep: values.keep === true };
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

async function startClamdFor(stack: Stack, set: SetResult['signatures']['name']): Promise<BenchClamd> {
  const { options, runDir } = stack;
  let signaturesDir = TEST_SIGNATURES_DIR;
  if (set === 'large') {
    progress(`generating ${options.signatureCount} body signatures`);
    signaturesDir = await writeLargeSignatureSet(join(runDir, 'signatures-large'), options.signatureCount, { wildcardShare: options.signatureWildcards });
  }
  progress(`starting clamd with the ${set} signature set`);
  const clamd = await startBenchClamd({
    workDir: join(runDir, `clamd-${set}`),
    signaturesDir,
    ...(set === 'official' ? { officialDir: OFFICIAL_DATABASE_DIR } : {}),
    streamMaxBytes: stack.maxFileMiB * MIB,
    maxThreads: Math.max(options.concurrency, options.smallConcurrency) + 2,
    // A big object against a large set can take minutes; the default 90 s would cut it short.
    limits: { maxScanTimeMs: 3_600_000 },
  });
  // The first scan after a load pays one-off costs; keep them out of the figures.
  const warm = randomBuffer(MIB);
  await new ClamdClient({ address: clamd.address }).scan(chunksOf(warm));
  return clamd;
}

async function runSet(stack: Stack, prepared: Awaited<ReturnType<typeof prepare>>, name: SetResult['signatures']['name']): Promise<SetResult> {
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
  const attempt = async <T>(phase: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (error) {
      const message = `${name}/${phase}: ${(error as Error)?.stack ?? String(error)}`;
      stack.errors.push(message);
      progress(`FAILED ${message}`);
      return undefined;
    }
  };
  try {
    if (phases.has('large')) result.large = await attempt('large', () => largePhase(stack, clamd, prepared, name));
    if (phases.has('memory')) result.memory = await attempt('memory', () => memoryPhase(stack, clamd, prepared, name, result.large));
    if (phases.has('small')) result.small = await attempt('small', () => smallPhase(stack, clamd, prepared, name));
    if (phases.has('requests')) result.requests = await attempt('requests', () => requestsPhase(stack, clamd, name, result.small));
    if (phases.has('latency')) result.latency = await attempt('latency', () => latencyPhase(stack, clamd, name));
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
  if (major < 24) throw new Error(`Node ${process.version} cannot run the .ts sources; use the project's Node 24 (npm run bench, or npx node bench/run.ts)`);
  const { options } = parsed;
  if (options.signatures.includes('official') && !(await hasOfficialDatabase())) {
    throw new Error(`--signatures official: no official database (.cvd/.cld) in ${OFFICIAL_DATABASE_DIR}; run freshclam first`);
  }
  const started = new Date();
  const runDir = mkdtempSync(join(tmpdir(), 'bucketscan-bench-'));
  progress(`run directory (worker logs, request counts): ${runDir}`);
  const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const out = resolve(parsed.out ?? join(ROOT, 'bench', 'results', `${stamp}${options.smoke ? '-smoke' : ''}.json`));

  let emulator: EmulatorHandle | undefined;
  const errors: string[] = [];
  const warnings: string[] = [];
  const sets: SetResult[] = [];
  const clients: Array<{ destroy(): void }> = [];
  try {
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
      maxFileMiB: Math.min(2047, Math.max(options.largeMiB, options.hugeMiB) + 64),
      progress,
      errors,
      warnings,
    };
    const prepared = await prepare(stack);
    for (const name of options.signatures) sets.push(await runSet(stack, prepared, name));
  } catch (error) {
    errors.push(`run: ${(error as Error)?.stack ?? String(error)}`);
    progress(`FAILED ${(error as Error)?.stack ?? String(error)}`);
  } finally {
    for (const client of clients) client.destroy();
    await emulator?.stop();
  }

  const finished = new Date();
  const results: BenchResults = {
    schema: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
    machine: describeMachine(clamavVersion()),
    options,
    prices: PRICES,
    sets,
    targets: checkTargets(sets),
    errors,
    warnings,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const shown = relative(ROOT, out).startsWith('..') ? out : relative(ROOT, out);
  process.stdout.write(terminalReport(results, shown));
  if (parsed.doc) {
    writeFileSync(DOC_PATH, renderDoc(results, shown));
    progress(`wrote ${relative(ROOT, DOC_PATH)}`);
  }
  if (parsed.keep || errors.length > 0) progress(`kept ${runDir}`);
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(2);
  },
);
