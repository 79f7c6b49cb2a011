/** The shape of a results file (bench/results/*.json) and the targets it is judged by. */
import type { Machine } from './proc.ts';
import type { RequestSummary } from './prices.ts';
import { PRICES } from './prices.ts';

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
  phases: Array<'large' | 'memory' | 'small' | 'requests' | 'latency'>;
  /** NODE_OPTIONS for the worker processes (experiments: heap and GC flags); empty: none. */
  workerNodeOptions: string;
}

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
  phases: ['large', 'memory', 'small', 'requests', 'latency'],
  // As the Dockerfile and `npm run worker` start it: a small young generation keeps
  // streaming garbage from lifting peak RSS (see docs/benchmarks.md).
  workerNodeOptions: '--max-semi-space-size=1',
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
    ratio: number;
  };
  memory?: {
    /** One worker scanning one object of each size, alone. */
    single: Array<{ objectMiB: number; peakRssMiB: number; seconds: number }>;
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
  latency?: { files: number; gapMs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number; samplesMs: number[] };
}

export interface TargetCheck {
  set: string;
  name: string;
  target: string;
  value: number | null;
  met: boolean | null;
}

export interface BenchResults {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** The command line that produced this file. */
  command: string;
  machine: Machine;
  options: BenchOptions;
  prices: typeof PRICES;
  sets: SetResult[];
  targets: TargetCheck[];
  /** Anything that went wrong in a phase without stopping the run (the run then exits 1). */
  errors: string[];
  /** Signs that a figure may not be trustworthy, such as a noisy machine. */
  warnings: string[];
}

/** Memory may not grow with object size: the 1 GiB peak may exceed the smallest single-object peak by at most this. */
export const MEMORY_GROWTH_ALLOWANCE_MIB = 16;

export function checkTargets(sets: SetResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (set: string, name: string, target: string, value: number | undefined | null, met: (v: number) => boolean) => {
    const known = value === undefined || value === null || !Number.isFinite(value) ? null : value;
    checks.push({ set, name, target, value: known, met: known === null ? null : met(known) });
  };
  for (const set of sets) {
    const name = set.signatures.name;
    add(name, 'Large objects: worker / bare clamd', '>= 0.9', set.large?.ratio, (v) => v >= 0.9);
    add(name, 'Small objects: worker / CONCURRENCY=1', '>= 5', set.small?.ratioVsC1, (v) => v >= 5);
    add(name, 'Small objects: worker / emulator-bound ceiling', '>= 0.5', set.small?.ratioVsCeiling, (v) => v >= 0.5);
    const single = set.memory?.single ?? [];
    const largest = single.reduce<(typeof single)[number] | undefined>((a, b) => (a && a.objectMiB >= b.objectMiB ? a : b), undefined);
    const smallest = single.reduce<(typeof single)[number] | undefined>((a, b) => (a && a.objectMiB <= b.objectMiB ? a : b), undefined);
    add(name, `Memory: peak RSS scanning one ${largest?.objectMiB ?? '?'} MiB object (MiB)`, '<= 150', largest?.peakRssMiB, (v) => v <= 150);
    add(
      name,
      `Memory: growth from ${smallest?.objectMiB ?? '?'} MiB to ${largest?.objectMiB ?? '?'} MiB object (MiB)`,
      `<= ${MEMORY_GROWTH_ALLOWANCE_MIB}`,
      largest && smallest && largest !== smallest ? largest.peakRssMiB - smallest.peakRssMiB : null,
      (v) => v <= MEMORY_GROWTH_ALLOWANCE_MIB,
    );
    add(name, 'Requests: billable per clean file', '<= 3', set.requests?.clean?.billablePerFile, (v) => v <= 3);
  }
  return checks;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? NaN;
}
