import { GLOBAL_PHASES, SET_PHASES, type BenchOptions } from './results.ts';

/** What `npm run bench` measures with no flags: the full run (bench/run.ts starts its smoke run from it too). */
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
  taggedRuns: 3,
  phases: [...SET_PHASES, ...GLOBAL_PHASES],
  // The worker runs as the production command starts it (bench/production.ts);
  // these only add to it, for experiments.
  workerNodeOptions: '',
  workerNodeArgs: null,
  workerWrapper: [],
  workerEnv: {},
};

/** True when a run used the full run's settings (a results file from anything else is a trial). */
export function isFullRun(options: BenchOptions): boolean {
  if (options.smoke) return false;
  return (Object.keys(FULL_OPTIONS) as Array<keyof typeof FULL_OPTIONS>).every(
    (key) => JSON.stringify(options[key]) === JSON.stringify(FULL_OPTIONS[key]),
  );
}
