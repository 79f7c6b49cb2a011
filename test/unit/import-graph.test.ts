// The layers of src/ (test/support/import-graph.ts): imports point one way, and
// nothing imports itself round a cycle. The made-up trees show the check fails
// when it should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkImports, importsOf, LAYERS, listSources, readGraph } from '../support/import-graph.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

test('src/: every import points to its own folder or a lower layer, and there are no cycles', () => {
  const graph = readGraph(SRC);
  assert.ok(graph.size > 50, `read the tree (${graph.size} files)`);
  const violations = checkImports(graph).map((violation) => violation.text);
  assert.deepEqual(violations, []);
});

test('every folder of src/ has a layer', () => {
  const folders = new Set(listSources(SRC).map((file) => (file.includes('/') ? file.split('/')[0]! : '.')));
  assert.deepEqual(
    [...folders].filter((folder) => LAYERS[folder] === undefined),
    [],
  );
});

test('import statements of every form are read', () => {
  const source = [
    "import { a } from '../shared/errors.ts';",
    "import type { B } from './b.ts';",
    "export { c } from '../verdict/verdict.ts';",
    "import './side-effect.ts';",
    "const d = await import('../commands/d.ts');",
    "import { z } from 'zod';",
    'import {',
    '  e,',
    "} from '../aws/e.ts';",
  ].join('\n');
  assert.deepEqual(importsOf(source).sort(), [
    '../aws/e.ts',
    '../commands/d.ts',
    '../shared/errors.ts',
    '../verdict/verdict.ts',
    './b.ts',
    './side-effect.ts',
  ]);
});

test('the check fails on an import from a higher layer, between folders of one layer, and on cycles', () => {
  const graph = new Map<string, string[]>([
    ['shared/time.ts', ['worker/backoff.ts']],
    ['worker/backoff.ts', []],
    ['aws/queue.ts', ['config/config.ts', 'scan/reply.ts']],
    ['config/config.ts', ['aws/queue.ts']],
    ['scan/reply.ts', []],
    ['pipeline/a.ts', ['pipeline/b.ts']],
    ['pipeline/b.ts', ['pipeline/a.ts']],
    ['mystery/x.ts', ['shared/time.ts']],
    ['commands/scan.ts', ['commands/missing.ts']],
  ]);
  const found = checkImports(graph).map((violation) => `${violation.kind} ${violation.files.join(' ')}`);
  assert.deepEqual(found.sort(), [
    'cycle aws/queue.ts config/config.ts',
    'cycle pipeline/a.ts pipeline/b.ts',
    'sideways aws/queue.ts scan/reply.ts',
    'unplaced mystery/x.ts shared/time.ts',
    'unresolved commands/scan.ts commands/missing.ts',
    'upward aws/queue.ts config/config.ts',
    'upward shared/time.ts worker/backoff.ts',
  ]);
});
