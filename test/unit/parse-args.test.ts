// The commands' argument errors: one line each, naming the option or argument, the
// same whatever Node's parseArgs says in its own (multi-line) messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/commands/common.ts';
import { parseCommandArgs, parseCommandLine, parseCount } from '../../src/commands/parse-args.ts';

const OPTIONS = {
  since: { type: 'string' },
  reader: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
} as const;

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof UsageError, `not a UsageError: ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error.message;
  }
  assert.fail('no error');
}

const cases: Array<[string, string[], number, string]> = [
  ['an unknown long option', ['--fast'], 1, 'cmd: unknown option "--fast" (options: --since, --reader, --dry-run, --help)'],
  ['an unknown option with a value', ['--fast=yes'], 1, 'cmd: unknown option "--fast" (options: --since, --reader, --dry-run, --help)'],
  ['an unknown short option', ['-x'], 0, 'cmd: unknown option "-x" (options: --since, --reader, --dry-run, --help)'],
  ['grouped short options', ['-qv'], 1, 'cmd: unknown option "-q" (options: --since, --reader, --dry-run, --help)'],
  [
    'an unknown option after a good one',
    ['--since', '7d', '--until', '1d'],
    1,
    'cmd: unknown option "--until" (options: --since, --reader, --dry-run, --help)',
  ],
  ['a string option at the end', ['s3://b/', '--since'], 1, 'cmd: --since needs a value'],
  ['a repeatable option at the end', ['--reader'], 0, 'cmd: --reader needs a value'],
  [
    'a value that looks like an option',
    ['--since', '-5d'],
    1,
    'cmd: --since needs a value (one starting with "-" is written --since=-value)',
  ],
  [
    'another option where the value goes',
    ['--since', '--dry-run'],
    1,
    'cmd: --since needs a value (one starting with "-" is written --since=-value)',
  ],
  ['a boolean with a value', ['--dry-run=yes'], 1, 'cmd: --dry-run takes no value'],
  ['an empty value for a boolean', ['--dry-run='], 1, 'cmd: --dry-run takes no value'],
  ['a positional where none is taken', ['extra'], 0, 'cmd: unexpected argument "extra"'],
  ['a positional after the options', ['--dry-run', "it's"], 0, 'cmd: unexpected argument "it\'s"'],
  ['one positional too many', ['s3://b/', 's3://c/'], 1, 'cmd: unexpected argument "s3://c/"'],
  ['a positional after --', ['--', '-x'], 0, 'cmd: unexpected argument "-x"'],
];
for (const [what, argv, maxPositionals, message] of cases) {
  test(`${what}: ${JSON.stringify(argv)} -> ${message}`, () => {
    assert.equal(
      usageError(() => parseCommandLine('cmd', argv, OPTIONS, maxPositionals)),
      message,
    );
  });
}

test('good arguments parse as node:util parseArgs parses them', () => {
  const { values, positionals } = parseCommandLine(
    'cmd',
    ['s3://b/', '--since', '7d', '--reader', 'a', '--reader=b', '--dry-run'],
    OPTIONS,
    1,
  );
  assert.deepEqual({ ...values }, { since: '7d', reader: ['a', 'b'], 'dry-run': true });
  assert.deepEqual(positionals, ['s3://b/']);
  assert.deepEqual(parseCommandLine('cmd', ['--since=-5d', '-'], OPTIONS, 1).values.since, '-5d');
  assert.deepEqual(parseCommandArgs('cmd', ['a', 'b', '--', '--c'], OPTIONS, true).positionals, ['a', 'b', '--c']);
  assert.equal(
    usageError(() => parseCommandArgs('cmd', ['a'], OPTIONS, false)),
    'cmd: unexpected argument "a"',
  );
});

test('parseCount: a whole number in range, or one line naming the option', () => {
  assert.equal(parseCount('dlq list', '--max', '500', 1, 10_000), 500);
  assert.equal(
    usageError(() => parseCount('dlq list', '--max', '0', 1, 10_000)),
    'dlq list: --max must be a whole number from 1 to 10000, got "0"',
  );
  assert.equal(
    usageError(() => parseCount('dlq list', '--max', '2.5', 1, 10_000)),
    'dlq list: --max must be a whole number from 1 to 10000, got "2.5"',
  );
});
