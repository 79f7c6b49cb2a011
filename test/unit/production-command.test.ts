// The production command's Node flags are written in several places that cannot
// share one constant: package.json's "worker" script (the one the benchmark and
// the tests read), the image's exec-form ENTRYPOINT, the installed launcher
// (bin/bucketscan.js, which execs itself with them) and the docs that show the
// command. They must say the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { productionCommand, ROOT } from '../../bench/production.ts';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const { nodeArgs } = productionCommand();

test("the image entrypoint and the launcher run the worker with package.json's flags", () => {
  assert.ok(nodeArgs.length > 0, 'the worker script has flags');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
  assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
  assert.deepEqual(JSON.parse(entrypoint[1]!), ['node', ...nodeArgs, 'dist/cli.js']);
  const launcher = /^const V8_FLAGS = (\[.*\]);$/m.exec(read('bin/bucketscan.js'));
  assert.ok(launcher, 'bin/bucketscan.js lists V8_FLAGS on one line');
  assert.deepEqual(JSON.parse(launcher[1]!.replaceAll("'", '"')), nodeArgs);
});

test('every place that shows the production command shows these flags', () => {
  const command = `node ${nodeArgs.join(' ')} dist/cli.js worker`;
  for (const path of ['README.md', 'docs/operations.md', 'docs/commands.md', 'src/commands/worker.ts']) {
    assert.ok(read(path).includes(command), `${path} shows "${command}"`);
  }
  const entrypoint = JSON.stringify(['node', ...nodeArgs, 'dist/cli.js']).replaceAll('","', '", "');
  assert.ok(read('docs/containers.md').includes(`ENTRYPOINT ${entrypoint}`), `docs/containers.md shows ENTRYPOINT ${entrypoint}`);
});
