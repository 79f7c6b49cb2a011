/**
 * The `profile` phase: where the worker's busy time goes, as flame graphs.
 *
 * Two runs of the worker with `--cpu-prof`, each writing a .cpuprofile into the
 * run directory's profiles/ (it opens as a flame graph in Chrome DevTools or
 * speedscope), its folded stacks (`a;b;c <µs>`, for flamegraph.pl and the like)
 * and a summary by layer and by function (bench/profile.ts):
 * - small files: clean files with the status tag on, on moto (a versioned
 *   bucket), as the requests-tagged phase's untagged batch;
 * - a large object: one object of --large-mib from the emulator.
 *
 * The worker runs a copy of the production bundle built with source maps, so that
 * every frame is named by its source file (and so its package); `--worker-cli`
 * profiles that bundle instead (its maps are used when they sit beside it). The
 * profiler costs CPU itself: these runs give shares, not the CPU figures.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STATUS_TAG } from '../src/verdict/verdict.ts';
import { startMoto } from '../test/support/moto.ts';
import type { BenchClamd } from './clamd.ts';
import { MIB } from './data.ts';
import { drain, type Stack } from './phases.ts';
import { foldedStacks, summarizeProfile } from './profile.ts';
import { buildWithSourceMaps, productionCommand } from './production.ts';
import type { ProfileRun } from './results.ts';
import { runBatch, setUp } from './tagged-requests.ts';

/** The one .cpuprofile a worker wrote into `dir`, renamed to `<label>.cpuprofile`. */
function collect(dir: string, label: string): string {
  const written = readdirSync(dir).filter((name) => name.startsWith('CPU.') && name.endsWith('.cpuprofile'));
  if (written.length !== 1) throw new Error(`profile ${label}: expected one .cpuprofile in ${dir}, found ${written.length}`);
  const path = join(dir, `${label}.cpuprofile`);
  renameSync(join(dir, written[0]!), path);
  return path;
}

function summarize(dir: string, label: string, what: string, files: number): ProfileRun {
  const cpuprofile = collect(dir, label);
  const folded = join(dir, `${label}.folded`);
  writeFileSync(folded, foldedStacks(cpuprofile));
  const summary = summarizeProfile(cpuprofile, 15);
  writeFileSync(join(dir, `${label}.summary.json`), `${JSON.stringify(summary, null, 2)}\n`);
  return { label, what, files, ...summary, output: { cpuprofile, folded } };
}

export async function profilePhase(stack: Stack, clamd: BenchClamd): Promise<{ dir: string; runs: ProfileRun[] }> {
  const { options, runDir } = stack;
  const dir = join(runDir, 'profiles');
  mkdirSync(dir, { recursive: true });
  // The production bundle, again with source maps, unless another bundle was asked for.
  const cli =
    stack.command.cli === productionCommand().cli
      ? await buildWithSourceMaps(join(runDir, 'profile-build'))
      : existsSync(stack.command.cli)
        ? stack.command.cli
        : undefined;
  if (!cli) throw new Error(`profile: no worker bundle at ${stack.command.cli}`);
  const runs: ProfileRun[] = [];

  const smallDir = join(dir, 'small');
  mkdirSync(smallDir, { recursive: true });
  stack.progress(`profile: ${options.profileFiles} clean ${options.networkKiB} KiB files, status tag on, moto`);
  const moto = await startMoto();
  const m = await setUp(moto).catch(async (error: unknown) => {
    await moto.stop();
    throw error;
  });
  try {
    await runBatch(stack, clamd, m, {
      label: 'profile',
      files: options.profileFiles,
      uploadTags: {},
      statusTag: options.workerEnv['SCAN_STATUS_TAG'] || DEFAULT_STATUS_TAG,
      extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${smallDir}`],
      cli,
    });
  } finally {
    m.s3.destroy();
    m.sqs.destroy();
    await moto.stop();
  }
  runs.push(
    summarize(
      smallDir,
      'small-files',
      `${options.profileFiles} clean ${options.networkKiB} KiB files, status tag on (moto)`,
      options.profileFiles,
    ),
  );

  const largeDir = join(dir, 'large');
  mkdirSync(largeDir, { recursive: true });
  stack.progress(`profile: one ${options.largeMiB} MiB object from the emulator`);
  await drain(stack, clamd, {
    snapshot: 'large',
    count: 1,
    proxy: null,
    concurrency: options.concurrency,
    bytes: options.largeMiB * MIB,
    label: 'profile-large',
    expect: 'clean',
    extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${largeDir}`],
    cli,
  });
  runs.push(summarize(largeDir, 'large-object', `one ${options.largeMiB} MiB object (emulator)`, 1));
  return { dir, runs };
}
