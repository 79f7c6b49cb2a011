// `bucketscan policy` run as a user runs it. The document itself is checked in
// test/unit/bucket-policy.test.ts; here: what the command prints, where the tag key
// comes from, and its one-line errors. (No emulator here enforces bucket policies.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bucketPolicy } from '../../src/policy/bucket-policy.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src', 'cli.ts');
const SCANNER = 'arn:aws:iam::123456789012:role/bucketscan/worker-task';
const READER = 'arn:aws:iam::123456789012:user/alice';

function policy(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, 'policy', ...args], {
    env: { PATH: process.env['PATH'] ?? '', BUCKETSCAN_ENV_FILE: 'none', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('prints the policy document as JSON, exit 0', () => {
  const result = policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER, '--reader', READER]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.deepEqual(JSON.parse(result.stdout), bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER] }));
  assert.match(result.stdout, /"s3:ExistingObjectTag\/bucketscan-status": "CLEAN"/);
});

test('the tag key: --tag-key, else SCAN_STATUS_TAG, else bucketscan-status', () => {
  const fromEnv = policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER], { SCAN_STATUS_TAG: 'av-status' });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
  assert.deepEqual(JSON.parse(fromEnv.stdout), bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, tagKey: 'av-status' }));
  const fromFlag = policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER, '--tag-key', 'scan'], { SCAN_STATUS_TAG: 'av-status' });
  assert.equal(fromFlag.status, 0, fromFlag.stderr);
  assert.match(fromFlag.stdout, /"s3:ExistingObjectTag\/scan": "CLEAN"/);
});

test("STATUS_TAG_STYLE=guardduty: GuardDuty's key, and reads open on NO_THREATS_FOUND (what the worker then writes)", () => {
  const result = policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER], { STATUS_TAG_STYLE: 'guardduty' });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(
    JSON.parse(result.stdout),
    bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, statusTagStyle: 'guardduty' }),
  );
  assert.match(result.stdout, /"s3:ExistingObjectTag\/GuardDutyMalwareScanStatus": "NO_THREATS_FOUND"/);
  assert.doesNotMatch(result.stdout, /"CLEAN"/);
  const keyed = policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER], { STATUS_TAG_STYLE: 'guardduty', SCAN_STATUS_TAG: 'av' });
  assert.match(keyed.stdout, /"s3:ExistingObjectTag\/av": "NO_THREATS_FOUND"/);
  const sources = policy(['--scanner-role', SCANNER], {
    STATUS_TAG_STYLE: 'guardduty',
    SOURCES: JSON.stringify({ sources: [{ bucket: 'uploads', quarantineBucket: 'quarantine', quarantinePrefix: '' }] }),
  });
  assert.equal(sources.status, 0, sources.stderr);
  assert.match(sources.stdout, /"s3:ExistingObjectTag\/GuardDutyMalwareScanStatus": "NO_THREATS_FOUND"/);
  assertOneLineError(policy(['--bucket', 'unprocessed', '--scanner-role', SCANNER], { STATUS_TAG_STYLE: 'gd' }), /STATUS_TAG_STYLE/);
});

function assertOneLineError(result: ReturnType<typeof policy>, pattern: RegExp): void {
  assert.equal(result.status, 2, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
}

test('bad input: one line naming the option, exit 2, nothing printed', () => {
  const ok = ['--bucket', 'unprocessed', '--scanner-role', SCANNER];
  const cases: Array<[string[], RegExp]> = [
    [['--scanner-role', SCANNER], /^bucketscan: policy: --bucket <name> is required/],
    [['--bucket', 'unprocessed'], /^bucketscan: policy: --scanner-role <arn> is required/],
    [['--bucket'], /^bucketscan: policy: --bucket needs a value/],
    [['--bucket', 'Uploads_2024', '--scanner-role', SCANNER], /^bucketscan: policy: --bucket: "Uploads_2024" is not a bucket name: /],
    [['--bucket', 'unprocessed', '--scanner-role', 'worker'], /^bucketscan: policy: --scanner-role: "worker" is not an IAM role ARN/],
    [
      ['--bucket', 'unprocessed', '--scanner-role', READER],
      /^bucketscan: policy: --scanner-role: .* is a user: the scanner must be the worker's role$/,
    ],
    [
      ['--bucket', 'unprocessed', '--scanner-role', 'arn:aws:sts::123456789012:assumed-role/worker-task/ecs-1'],
      /^bucketscan: policy: --scanner-role: .* is a role session, not a role/,
    ],
    [[...ok, '--reader', 'arn:aws:iam::123456789012:root'], /^bucketscan: policy: --reader: .* is not an IAM role or user ARN/],
    [[...ok, '--tag-key', 'x'.repeat(129)], /^bucketscan: policy: --tag-key: .*at most 128 characters, not 129$/],
    [[...ok, 'extra'], /^bucketscan: policy: unexpected argument "extra"/],
    [[...ok, '--readers', READER], /^bucketscan: policy: unknown option "--readers"/],
  ];
  for (const [args, pattern] of cases) assertOneLineError(policy(args), pattern);
  // SCAN_STATUS_TAG set but empty turns tagging off: such a policy would lock every object.
  assertOneLineError(policy(ok, { SCAN_STATUS_TAG: '' }), /^bucketscan: configuration error: SCAN_STATUS_TAG: is empty/);
});

test('--help says what it denies and how to apply it', () => {
  const result = policy(['--help']);
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^Usage: bucketscan policy \[--bucket <name>\] --scanner-role <arn>/);
  assert.match(result.stdout, /aws s3api put-bucket-policy --bucket B --policy file:\/\/policy\.json/);
});

describe('with SOURCES_FILE: one policy per bucket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-policy-'));
  const sourcesFile = join(dir, 'sources.yaml');
  writeFileSync(
    sourcesFile,
    [
      'sources:',
      '  - { bucket: shared, prefix: submissions/, quarantineBucket: shared, quarantinePrefix: held/ }',
      '  - { bucket: shared, prefix: partners/, keyLayout: any, quarantineBucket: quarantine, quarantinePrefix: partners/ }',
      '  - { bucket: whole, quarantineBucket: quarantine, quarantinePrefix: whole/ }',
      '  - { bucket: untagged, quarantineBucket: quarantine, quarantinePrefix: untagged/, statusTag: false }',
    ].join('\n'),
  );
  const withSources = { SOURCES_FILE: sourcesFile };

  test('all buckets: an object keyed by bucket, each policy on its scanned folders and quarantine areas; an untagged bucket gets a note', () => {
    const result = policy(['--scanner-role', SCANNER, '--reader', READER], withSources);
    assert.equal(result.status, 0, result.stderr);
    const documents = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(documents), ['shared', 'whole']);
    assert.deepEqual(
      documents['shared'],
      bucketPolicy({ bucket: 'shared', prefixes: ['submissions/', 'partners/', 'held/'], scannerRoleArn: SCANNER, readerArns: [READER] }),
    );
    assert.deepEqual(documents['whole'], bucketPolicy({ bucket: 'whole', scannerRoleArn: SCANNER, readerArns: [READER] }));
    assert.match(
      result.stdout,
      /"arn:aws:s3:::shared\/submissions\/\*",\s*"arn:aws:s3:::shared\/partners\/\*",\s*"arn:aws:s3:::shared\/held\/\*"/,
    );
    assert.match(result.stderr, /^policy: note: no policy for bucket untagged: sources\[3\] \(bucket "untagged"\) writes no status tag/);
  });

  test('--bucket picks one: the plain document, ready for put-bucket-policy', () => {
    const result = policy(['--bucket', 'shared', '--scanner-role', SCANNER, '--tag-key', 'av'], withSources);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.deepEqual(
      JSON.parse(result.stdout),
      bucketPolicy({ bucket: 'shared', prefixes: ['submissions/', 'partners/', 'held/'], scannerRoleArn: SCANNER, tagKey: 'av' }),
    );
  });

  test('refusals: one line, exit 2', () => {
    assertOneLineError(
      policy(['--bucket', 'nobody', '--scanner-role', SCANNER], withSources),
      /^bucketscan: policy: --bucket: bucket "nobody" is in no source of SOURCES_FILE/,
    );
    assertOneLineError(
      policy(['--bucket', 'untagged', '--scanner-role', SCANNER], withSources),
      /^bucketscan: policy: --bucket: sources\[3\] \(bucket "untagged"\) writes no status tag/,
    );
    assertOneLineError(
      policy(['--scanner-role', SCANNER], { ...withSources, SCAN_STATUS_TAG: '' }),
      /^bucketscan: policy: no source writes the status tag/,
    );
    assertOneLineError(
      policy(['--scanner-role', SCANNER], { SOURCES_FILE: join(dir, 'none.json') }),
      /^bucketscan: configuration error: SOURCES_FILE: cannot read/,
    );
  });
});
