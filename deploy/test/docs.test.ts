// docs/deploy.md's generated parts: the cost table from the benchmark's figures
// (docs/benchmarks.md) and the template's default task size. (The IAM table is
// checked by iam.test.ts, which computes it.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { benchmarkFigures, COST_END, COST_START, renderCostTable } from '../lib/cost.ts';
import { expectGeneratedSection } from './support.ts';

const DOCS = fileURLToPath(new URL('../../docs/deploy.md', import.meta.url));
const BENCHMARKS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

test('the cost table is computed from docs/benchmarks.md and the default task size', () => {
  expectGeneratedSection(DOCS, COST_START, COST_END, renderCostTable(benchmarkFigures(readFileSync(BENCHMARKS, 'utf8'))));
});

test('a benchmark figure that is missing is named, not guessed', () => {
  assert.throws(
    () => benchmarkFigures('| something else | 1 |'),
    /docs\/benchmarks\.md has no figure for "Cost: AWS requests per million clean files \(USD\)"/,
  );
});
