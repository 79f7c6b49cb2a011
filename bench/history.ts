/**
 * The tables of bench/history.md. Prints markdown.
 *
 * `node bench/history.ts "<change>=<results.json>[,<results.json>...]" ...`: one
 * row per change (a build of the worker, run with `--worker-cli`), from runs of
 * `--phases requests-tagged,startup,memory`; several results files for one change
 * are averaged.
 *
 * `node bench/history.ts --profiles <before.json> <after.json>`: the profile
 * phase's busy time by layer, side by side.
 */
import { readFileSync } from 'node:fs';
import type { BenchResults } from './results.ts';

const mean = (values: Array<number | undefined>) => {
  const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
};
const cell = (value: number | undefined, digits = 2) => (value === undefined ? '–' : value.toFixed(digits));

if (process.argv[2] === '--profiles') {
  const [before, after] = process.argv.slice(3).map((path) => JSON.parse(readFileSync(path, 'utf8')) as BenchResults);
  const out: string[] = [];
  for (const label of ['small-files', 'large-object']) {
    const runs = [before, after].map((r) => r?.profile?.runs.find((run) => run.label === label));
    const layers = [...new Set(runs.flatMap((run) => run?.layers.map((l) => l.layer) ?? []))];
    const share = (run: (typeof runs)[number], layer: string) => (run?.layers.find((l) => l.layer === layer)?.share ?? 0) * 100;
    const perUnit = (run: (typeof runs)[number]) => (run ? run.busyMs / Math.max(1, run.files) : undefined);
    out.push(
      `${runs[1]?.what ?? label}: busy time (under the profiler) ${cell(perUnit(runs[0]))} ms before, ${cell(perUnit(runs[1]))} ms after, per ${label === 'small-files' ? 'file' : 'object'}; shares by layer (%):`,
      '',
      '| Layer | before | after |',
      '|---|---:|---:|',
      ...layers
        .sort((a, b) => share(runs[0], b) - share(runs[0], a))
        .filter((layer) => share(runs[0], layer) >= 0.5 || share(runs[1], layer) >= 0.5)
        .map((layer) => `| ${layer} | ${cell(share(runs[0], layer), 1)} | ${cell(share(runs[1], layer), 1)} |`),
      '',
    );
  }
  process.stdout.write(`${out.join('\n')}`);
  process.exit(0);
}

const rows: string[] = [];
for (const argument of process.argv.slice(2)) {
  const [change, files] = argument.split('=');
  if (!change || !files) throw new Error(`expected "<change>=<results.json>[,...]", got ${argument}`);
  const runs = files.split(',').map((path) => JSON.parse(readFileSync(path, 'utf8')) as BenchResults);
  const tagged = (pick: (r: BenchResults) => number | undefined) => mean(runs.map(pick));
  const single = (r: BenchResults, mib: 'first' | 'last') => {
    const list = r.sets[0]?.memory?.single ?? [];
    return mib === 'first' ? list[0] : list.at(-1);
  };
  rows.push(
    `| ${change} | ${cell(tagged((r) => r.requestsTagged?.untagged.workerCpuMsPerFile))} | ${cell(
      tagged((r) => r.requestsTagged?.untaggedTls?.workerCpuMsPerFile),
    )} | ${cell(tagged((r) => r.requestsTagged?.pretagged.workerCpuMsPerFile))} | ${cell(
      mean(runs.map((r) => single(r, 'last')?.workerCpuMsPerMiB)),
    )} | ${cell(mean(runs.map((r) => r.startup?.idleRssMiB)), 1)} | ${cell(mean(runs.map((r) => single(r, 'last')?.peakRssMiB)), 1)} | ${runs.length} |`,
  );
}
process.stdout.write(
  `${[
    '| Change | CPU ms per clean file, tag on (moto) | the same, TLS | the same, file with tags of its own | CPU ms per MiB (one 1 GiB object) | idle RSS (MiB) | peak RSS, 1 GiB object (MiB) | runs |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n')}\n`,
);
