/**
 * `npm run bench:doc -- [results.json]`: rewrites docs/benchmarks.md from a results
 * file (default: the newest full run in bench/results/).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOC_PATH, renderDoc } from './report.ts';
import type { BenchResults } from './results.ts';

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

const path = resolve(process.argv[2] ?? newestFullRun());
const results = JSON.parse(readFileSync(path, 'utf8')) as BenchResults;
if (results.schema !== 1 && results.schema !== 2) throw new Error(`${path}: unknown results schema ${String(results.schema)}`);
const shown = relative(ROOT, path).startsWith('..') ? path : relative(ROOT, path);
writeFileSync(DOC_PATH, renderDoc(results, shown));
process.stderr.write(`wrote ${relative(ROOT, DOC_PATH)} from ${shown}\n`);
