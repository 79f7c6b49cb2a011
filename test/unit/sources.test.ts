import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSource, parseSources, readSourcesFile, SourcesError } from '../../src/config/sources.ts';

const a = { bucket: 'uploads-a', quarantineBucket: 'quarantine', quarantinePrefix: 'a/' };
const b = { bucket: 'uploads-b', prefix: 'incoming', keyLayout: 'any', quarantineBucket: 'quarantine', quarantinePrefix: 'b' };

function rejects(document: unknown, message: RegExp) {
  assert.throws(
    () => parseSources(document),
    (error: unknown) => {
      assert.ok(error instanceof SourcesError, String(error));
      assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
      assert.match(error.message, message);
      return true;
    },
  );
}

test('a sources file: defaults, normalised folders, queue names and URLs told apart', () => {
  const sources = parseSources({
    sources: [
      { ...a, validationQueue: 'validation-a', statusTag: false },
      {
        ...b,
        validationQueue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/v-b',
        notificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
      },
    ],
  });
  assert.deepEqual(sources[0], {
    label: 'sources[0] (bucket "uploads-a")',
    bucket: 'uploads-a',
    prefix: '',
    keyLayout: 'submission',
    quarantine: { bucket: 'quarantine', prefix: 'a/' },
    validationQueue: { name: 'validation-a' },
    notificationTopicArn: undefined,
    statusTag: undefined,
  });
  assert.equal(sources[1]?.prefix, 'incoming/');
  assert.equal(sources[1]?.quarantine.prefix, 'b/');
  assert.equal(sources[1]?.keyLayout, 'any');
  assert.deepEqual(sources[1]?.validationQueue, { url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/v-b' });
  assert.equal(sources[1]?.statusTag, 'bucketscan-status', 'no statusTag: the global SCAN_STATUS_TAG');
});

test('statusTag: the tag key from the global setting, true turns it on, false off', () => {
  const tags = (defaults: { statusTag: string | undefined; defaultStatusTag: string }) =>
    parseSources(
      {
        sources: [
          { ...a, statusTag: true },
          { ...b, statusTag: 'false' },
          { ...a, bucket: 'uploads-c', quarantinePrefix: 'c/' },
        ],
      },
      defaults,
    ).map((source) => source.statusTag);
  assert.deepEqual(tags({ statusTag: 'scan:status', defaultStatusTag: 'bucketscan-status' }), ['scan:status', undefined, 'scan:status']);
  // Tagging off globally (SCAN_STATUS_TAG=""): true turns it on with the style's key.
  assert.deepEqual(tags({ statusTag: undefined, defaultStatusTag: 'GuardDutyMalwareScanStatus' }), [
    'GuardDutyMalwareScanStatus',
    undefined,
    undefined,
  ]);
});

test('each bad entry is named with its field, on one line', () => {
  rejects({}, /^sources: is required$/);
  rejects({ sources: [] }, /^sources: must list at least one source$/);
  rejects({ sources: [a], extra: 1 }, /unknown field "extra"/);
  rejects([a], /must be an object with a "sources" list/);
  rejects(
    { sources: [{ bucket: 'uploads-a', quarantinePrefix: '' }] },
    /^sources\[0\] \(bucket "uploads-a"\)\.quarantineBucket: is required$/,
  );
  rejects(
    { sources: [a, { bucket: 'uploads-b', quarantineBucket: 'quarantine-b' }] },
    /^sources\[1\] \(bucket "uploads-b"\)\.quarantinePrefix: is required/,
  );
  rejects({ sources: [{ ...a, bucket: 'Not_A_Bucket' }] }, /^sources\[0\] \(bucket "Not_A_Bucket"\)\.bucket: must be an S3 bucket name/);
  rejects({ sources: [{ ...a, bucket: '192.168.1.1' }] }, /\.bucket: must be an S3 bucket name/);
  rejects({ sources: [{ ...a, keyLayout: 'flat' }] }, /\.keyLayout: must be one of submission, any$/);
  rejects({ sources: [{ ...a, statusTag: 'yes' }] }, /\.statusTag: must be true or false$/);
  rejects({ sources: [{ ...a, validationQueue: 'not a queue' }] }, /\.validationQueue: must be an SQS queue name/);
  rejects({ sources: [{ ...a, notificationTopicArn: 'topic' }] }, /\.notificationTopicArn: must be an SNS topic ARN/);
  rejects({ sources: [{ ...a, quarantinebucket: 'x' }] }, /^sources\[0\] \(bucket "uploads-a"\): unknown field "quarantinebucket"$/);
  rejects({ sources: ['uploads-a'] }, /^sources\[0\]: must be an object$/);
});

test('areas: no duplicate bucket, no overlapping prefixes, no quarantine inside a scanned area', () => {
  rejects(
    { sources: [a, { ...a, quarantinePrefix: 'other/' }] },
    /^sources\[1\] \(bucket "uploads-a"\)\.bucket: s3:\/\/uploads-a\/ is already scanned by sources\[0\]/,
  );
  rejects(
    {
      sources: [
        { ...a, prefix: 'in/' },
        { ...a, prefix: 'in/deeper', quarantinePrefix: 'c/' },
      ],
    },
    /^sources\[1\] \(bucket "uploads-a"\)\.prefix: "in\/deeper\/" overlaps sources\[0\] \(bucket "uploads-a"\)'s prefix "in\/"/,
  );
  rejects({ sources: [a, { ...a, prefix: 'x/', quarantinePrefix: 'c/' }] }, /\.prefix: "x\/" overlaps .*prefix ""/);
  // Its own bucket, no prefix: the quarantine would be scanned again.
  rejects(
    { sources: [{ ...a, quarantineBucket: 'uploads-a' }] },
    /^sources\[0\] \(bucket "uploads-a"\)\.quarantinePrefix: the quarantine area s3:\/\/uploads-a\/a\/ overlaps the area it scans, s3:\/\/uploads-a\//,
  );
  // Another source's area.
  rejects(
    { sources: [a, { ...b, quarantineBucket: 'uploads-a', quarantinePrefix: 'q/' }] },
    /^sources\[1\] \(bucket "uploads-b"\)\.quarantinePrefix: .* overlaps the area sources\[0\] \(bucket "uploads-a"\) scans/,
  );
  // Beside the scanned folder in the same bucket is fine, and so are distinct folders of one bucket.
  parseSources({ sources: [{ ...a, prefix: 'in/', quarantineBucket: 'uploads-a', quarantinePrefix: 'quarantine/' }] });
  parseSources({
    sources: [
      { ...a, prefix: 'in/' },
      { ...a, prefix: 'inbox/', quarantinePrefix: 'c/' },
    ],
  });
});

test('findSource: the one source of a bucket and key, or why none', () => {
  const sources = parseSources({ sources: [{ ...a, prefix: 'in/' }, { ...a, prefix: 'inbox/', quarantinePrefix: 'c/' }, b] });
  const found = (bucket: string, key: string) => {
    const match = findSource(sources, bucket, key);
    return match.ok ? match.source.label : match.reason;
  };
  assert.equal(found('uploads-a', 'in/x'), 'sources[0] (bucket "uploads-a")');
  assert.equal(found('uploads-a', 'inbox/x'), 'sources[1] (bucket "uploads-a")');
  assert.equal(found('uploads-b', 'incoming/x y'), 'sources[2] (bucket "uploads-b")');
  assert.equal(found('uploads-a', 'other/x'), 'object key is outside every scanned prefix of its bucket ("in/", "inbox/")');
  assert.equal(found('uploads-b', 'x'), 'object key is outside the unprocessed prefix "incoming/"');
  assert.equal(found('uploads-c', 'x'), 'bucket "uploads-c" is not a scanned bucket (no source names it)');
  // A single source keeps the single-bucket wording.
  assert.equal(findSource(parseSources({ sources: [a] }), 'other', 'k').ok, false);
  const single = findSource(parseSources({ sources: [a] }), 'other', 'k');
  assert.equal(single.ok ? '' : single.reason, 'bucket "other" is not the unprocessed bucket');
});

test('readSourcesFile: JSON and YAML, and what is wrong with the file itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-sources-'));
  const json = join(dir, 'sources.json');
  writeFileSync(json, JSON.stringify({ sources: [a] }));
  assert.equal((await readSourcesFile(json))[0]?.bucket, 'uploads-a');
  const yaml = join(dir, 'sources.yaml');
  writeFileSync(
    yaml,
    ['sources:', '  - bucket: uploads-a', '    quarantineBucket: quarantine', '    quarantinePrefix: a/', '    statusTag: false', ''].join(
      '\n',
    ),
  );
  assert.deepEqual(
    (await readSourcesFile(yaml)).map((s) => [s.bucket, s.statusTag]),
    [['uploads-a', undefined]],
  );
  const fails = async (path: string, message: RegExp) =>
    assert.rejects(readSourcesFile(path), (error: unknown) => {
      assert.ok(error instanceof SourcesError);
      assert.ok(!error.message.includes('\n'), error.message);
      assert.match(error.message, message);
      return true;
    });
  await fails(join(dir, 'missing.json'), /cannot read ".*missing\.json" \(ENOENT\)/);
  writeFileSync(join(dir, 'broken.json'), '{"sources": [');
  await fails(join(dir, 'broken.json'), /broken\.json" is not valid JSON: /);
  writeFileSync(join(dir, 'broken.yml'), 'sources:\n  - bucket: a\n  - bucket: [\n');
  await fails(join(dir, 'broken.yml'), /broken\.yml" is not valid YAML at line \d+: /);
  writeFileSync(join(dir, 'dup.yaml'), 'sources: []\nsources: []\n');
  await fails(join(dir, 'dup.yaml'), /not valid YAML/);
});
