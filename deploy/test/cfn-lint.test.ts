// cfn-lint (installed on these machines; pip install cfn-lint elsewhere) on the
// checked-in template and on the construct with concrete values: no errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { constructStack } from './support.ts';

const TEMPLATE = fileURLToPath(new URL('../bucketscan.template.json', import.meta.url));

/** cfn-lint on PATH or in pyenv's shims; a missing cfn-lint fails the test, it is never skipped. */
function cfnLint(file: string): { status: number; output: string } {
  const path = [process.env['PATH'] ?? '', join(process.env['PYENV_ROOT'] || join(homedir(), '.pyenv'), 'shims')].join(delimiter);
  const result = spawnSync('cfn-lint', ['--format', 'parseable', file], { encoding: 'utf8', env: { ...process.env, PATH: path } });
  if (result.error) throw new Error(`cfn-lint could not be run (${result.error.message}): pip install cfn-lint`);
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational. */
function assertNoErrors(file: string) {
  const { status, output } = cfnLint(file);
  assert.equal(status & 2, 0, `cfn-lint found errors:\n${output}`);
  assert.ok(status === 0 || (status & ~(4 | 8)) === 0, `cfn-lint failed (exit ${status}):\n${output}`);
  const errors = output.split('\n').filter((line) => /:E\d{4}:/.test(line));
  assert.deepEqual(errors, []);
}

test('the checked-in template has no cfn-lint errors', () => {
  assertNoErrors(TEMPLATE);
});

test('the construct with concrete values has no cfn-lint errors', () => {
  lintConstruct({ unprocessedPrefix: 'incoming/', minTasks: 1 });
});

test('the construct with several sources (S3 and EventBridge, new and existing buckets) and a result bus has no cfn-lint errors', () => {
  lintConstruct({
    sources: [
      { bucketName: 'partner-drop', notifications: 'EventBridge', keyLayout: 'any', quarantinePrefix: 'partner/' },
      { prefix: 'uploads/', quarantinePrefix: 'uploads/' },
      { bucketName: 'archive-intake', prefix: 'in/', quarantinePrefix: 'archive/', statusTag: false },
    ],
    resultEventBus: 'scan-results',
    failClosedReads: {},
    messageEncryption: 'customer-key',
  });
});

function lintConstruct(props: Parameters<typeof constructStack>[0]): void {
  const { app, stack } = constructStack(props);
  let assembly: ReturnType<typeof app.synth>;
  try {
    assembly = app.synth();
  } catch {
    throw new Error('the construct stack did not synthesize (see nag.test.ts)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-lint-'));
  try {
    const file = join(dir, 'stack.json');
    writeFileSync(file, JSON.stringify(assembly.getStackByName(stack.stackName).template));
    assertNoErrors(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(app.outdir, { recursive: true, force: true });
  }
}

test('cfn-lint really reports errors (a broken template fails)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-lint-'));
  try {
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify({ Resources: { Q: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'soon' } } } }));
    assert.notEqual(cfnLint(file).status & 2, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
