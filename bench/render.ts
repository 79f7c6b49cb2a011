/**
 * `npm run bench:doc -- [results.json ...]`: rewrites docs/benchmarks.md from a
 * results file (default: the newest full run in bench/results/), or from several
 * merged (phases run apart: each set's figures and each once-per-run figure from
 * the last file that has it; the targets judged again from the merge).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTargets, DOC_PATH, renderDoc } from './report.ts';
import { readResults, type BenchResults, type SetResult } from './results.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');

function newestFullRun(): string {
  let names: string[] = [];
  try {
    names = readdirSync(RESULTS_DIR).filter((name) => name.endsWith('.json') && !name.includes('-smoke'));
  } catch {
    // No results yet.
  }
  const newest = names.sort().pop();
  if (!newest) throw new Error(`no results in ${relative(ROOT, RESULTS_DIR)}; run npm run bench first, or name a results file`);
  return join(RESULTS_DIR, newest);
}

/** Later files win, phase by phase. */
export function merge(all: BenchResults[]): BenchResults {
  const [first, ...rest] = all;
  if (!first) throw new Error('no results to merge');
  const merged: BenchResults = structuredClone(first);
  for (const next of rest) {
    for (const set of next.sets) {
      const same = merged.sets.find((s) => s.signatures.name === set.signatures.name);
      if (same) Object.assign(same, Object.fromEntries(Object.entries(set).filter(([, value]) => value !== undefined)) as SetResult);
      else merged.sets.push(structuredClone(set));
    }
    for (const key of ['imports', 'startup', 'sweep', 'soak', 'requestsTagged', 'profile', 'backfill', 'globalSet'] as const) {
      if (next[key] !== undefined) Object.assign(merged, { [key]: next[key] });
    }
    merged.errors = [...merged.errors, ...next.errors];
    merged.warnings = [...merged.warnings, ...next.warnings];
    merged.command = `${merged.command}; ${next.command}`;
    merged.finishedAt = next.finishedAt;
    merged.durationSeconds += next.durationSeconds;
  }
  if (rest.length > 0) {
    merged.warnings.push(
      `merged from ${all.length} runs of single phases (machine load differed between them): the lead's full run on a quiet machine replaces these figures`,
    );
  }
  merged.targets = checkTargets(merged);
  return merged;
}

const paths = process.argv.length > 2 ? process.argv.slice(2).map((p) => resolve(p)) : [newestFullRun()];
const shown = paths.map((path) => (relative(ROOT, path).startsWith('..') ? path : relative(ROOT, path))).join(', ');
writeFileSync(DOC_PATH, renderDoc(merge(paths.map(readResults)), shown));
process.stderr.write(`wrote ${relative(ROOT, DOC_PATH)} from ${shown}\n`);
