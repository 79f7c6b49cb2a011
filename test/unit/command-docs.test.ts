// docs/commands.md is the commands' own --help (scripts/command-docs.ts lays it out):
// a help text that changes without the doc, or a doc edited by hand, fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COMMAND_DOCS, renderCommandDocs } from '../../scripts/command-docs.ts';

test('docs/commands.md is what the commands print for --help (npm run docs:commands rewrites it)', async () => {
  const expected = (await renderCommandDocs()).split('\n');
  const actual = readFileSync(COMMAND_DOCS, 'utf8').split('\n');
  const line = expected.findIndex((text, i) => text !== actual[i]);
  const at = line === -1 ? Math.min(expected.length, actual.length) : line;
  assert.ok(
    expected.length === actual.length && line === -1,
    `docs/commands.md differs from the commands' --help at line ${at + 1}:\n` +
      `  doc:  ${JSON.stringify(actual[at])}\n  help: ${JSON.stringify(expected[at])}\n` +
      'Edit the help text in src/commands/ and run npm run docs:commands.',
  );
});
