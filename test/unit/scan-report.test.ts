import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  exitCode,
  jsonLine,
  parseTargets,
  printable,
  statusColumn,
  streamTooLong,
  textLine,
  type ScanOutcome,
  type ScanTargetSpec,
  type TargetReport,
} from '../../src/commands/scan-report.ts';
import { dispose, tooLarge } from '../../src/pipeline/decide.ts';
import { parseScanReply, streamLimitExceeded } from '../../src/scan/reply.ts';
import type { ScanVerdict } from '../../src/scan/reply.ts';

const file = (target: string): ScanTargetSpec => ({ kind: 'file', target, path: target });
const report = (outcome: ScanOutcome, target: ScanTargetSpec = file('f.txt')): TargetReport => ({
  target,
  outcome,
  bytes: null,
  versionId: null,
  eTag: null,
});

test('targets: files, s3:// URLs and stdin, in order', () => {
  const parsed = parseTargets(['a.txt', 's3://bkt/k/x', '-', './s3:odd']);
  assert.deepEqual(parsed, {
    ok: true,
    targets: [
      { kind: 'file', target: 'a.txt', path: 'a.txt' },
      { kind: 's3', target: 's3://bkt/k/x', bucket: 'bkt', key: 'k/x' },
      { kind: 'stdin', target: '-' },
      { kind: 'file', target: './s3:odd', path: './s3:odd' },
    ],
  });
});

test('targets: mistakes stop the command before anything is scanned', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^nothing to scan/],
    [['-', 'a', '-'], /stdin \(-\) can be scanned only once/],
    [['a', 's3://bucket'], /^s3:\/\/bucket: no object key/],
    [['s3://'], /^s3:\/\/: no bucket name/],
    [['s3://Bad_Bucket/k'], /invalid bucket name/],
    [['s3:/bkt/k'], /^s3:\/bkt\/k: an S3 URL starts with s3:\/\/ \(for a local file of that name, write \.\/s3:\/bkt\/k\)/],
    [['S3://bkt/k'], /an S3 URL starts with s3:\/\//],
    [[''], /empty argument/],
  ];
  for (const [args, reason] of cases) {
    const parsed = parseTargets(args);
    assert.equal(parsed.ok, false, JSON.stringify(args));
    if (!parsed.ok) assert.match(parsed.reason, reason);
  }
});

const json = (outcome: ScanOutcome) => JSON.parse(jsonLine(report(outcome))) as Record<string, unknown>;

test("verdicts: the worker's own, never CLEAN unless clamd said OK", () => {
  const verdicts: ScanVerdict[] = [
    { status: 'clean' },
    { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' },
    {
      status: 'unscannable',
      reason: 'encrypted',
      detail: 'encrypted Zip content that clamd cannot open',
      signature: 'Heuristics.Encrypted.Zip',
    },
    streamLimitExceeded(),
  ];
  for (const verdict of verdicts) {
    // CLEAN exactly when the worker would forward it as clean, whatever UNSCANNABLE_ACTION says.
    assert.equal(statusColumn(verdict) === 'CLEAN', dispose(verdict, 'forward').verdict.status === 'clean');
  }
  assert.deepEqual(
    verdicts.map((verdict) => statusColumn(verdict)),
    ['CLEAN', 'INFECTED', 'UNSCANNABLE', 'UNSCANNABLE'],
  );
  assert.deepEqual(json(verdicts[2]!), {
    ...json(verdicts[2]!),
    status: 'UNSCANNABLE',
    reason: 'encrypted',
    detail: 'encrypted Zip content that clamd cannot open',
    signature: 'Heuristics.Encrypted.Zip',
  });
  assert.deepEqual(json(streamLimitExceeded()), {
    ...json(streamLimitExceeded()),
    status: 'UNSCANNABLE',
    reason: 'stream-limit',
    detail: "the file is larger than clamd's StreamMaxLength",
    signature: null,
  });
  // A limit alert from clamd, through the real reply parser.
  const limit = parseScanReply(Buffer.from('stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND\0'));
  assert.ok(limit.status !== 'error');
  assert.deepEqual(json(limit), {
    ...json(limit),
    status: 'UNSCANNABLE',
    reason: 'limit-exceeded',
    detail: "it unpacks to more data than clamd's MaxScanSize",
    signature: 'Heuristics.Limits.Exceeded.MaxScanSize',
  });
});

test('MAX_FILE_SIZE: exactly the limit is scanned, one byte more is UNSCANNABLE too-large', () => {
  assert.equal(tooLarge(100, 100), undefined);
  const refused = tooLarge(101, 100)!;
  assert.deepEqual(json(refused), {
    ...json(refused),
    status: 'UNSCANNABLE',
    reason: 'too-large',
    detail: 'larger than MAX_FILE_SIZE (101 bytes; the limit is 100)',
    signature: null,
  });
  assert.deepEqual(json(streamTooLong(100)), {
    ...json(streamTooLong(100)),
    status: 'UNSCANNABLE',
    reason: 'too-large',
    detail: 'longer than MAX_FILE_SIZE (more than 100 bytes)',
    signature: null,
  });
});

test('exit code: ERROR beats FOUND/UNSCANNABLE beats OK', () => {
  const clean = report({ status: 'clean' });
  const infected = report({ status: 'infected', signature: 'X' });
  const unscannable = report(tooLarge(2, 1)!);
  const error = report({ status: 'error', detail: 'no such file' });
  assert.equal(exitCode([clean, clean]), 0);
  assert.equal(exitCode([clean, infected]), 1);
  assert.equal(exitCode([unscannable, clean]), 1);
  assert.equal(exitCode([infected, error, clean]), 2);
  assert.equal(exitCode([error]), 2);
});

test('text lines: clamdscan style', () => {
  assert.equal(textLine(report({ status: 'clean' })), 'f.txt: OK');
  assert.equal(textLine(report({ status: 'infected', signature: 'Win.Test.EICAR_HDB-1' })), 'f.txt: Win.Test.EICAR_HDB-1 FOUND');
  assert.equal(
    textLine(
      report({ status: 'unscannable', reason: 'encrypted', detail: 'encrypted Zip content', signature: 'Heuristics.Encrypted.Zip' }),
    ),
    'f.txt: encrypted Zip content (Heuristics.Encrypted.Zip) UNSCANNABLE',
  );
  assert.equal(textLine(report(tooLarge(2, 1)!)), 'f.txt: larger than MAX_FILE_SIZE (2 bytes; the limit is 1) UNSCANNABLE');
  assert.equal(textLine(report({ status: 'error', detail: 'no such file' })), 'f.txt: ERROR no such file');
  assert.equal(textLine(report({ status: 'clean' }, { kind: 'stdin', target: '-' })), 'stdin: OK');
  assert.equal(textLine(report({ status: 'clean' }, { kind: 's3', target: 's3://b/k', bucket: 'b', key: 'k' })), 's3://b/k: OK');
});

test('text lines: a file name cannot forge a line or a result', () => {
  const name = 'evil\n/etc/passwd: OK\u2028\\x0a\u009b';
  const line = textLine(report({ status: 'infected', signature: 'X' }, file(name)));
  assert.equal(line, 'evil\\x0a/etc/passwd: OK\\u2028\\\\x0a\\u009b: X FOUND');
  assert.equal(line.split('\n').length, 1);
  assert.equal(printable('plain name.txt'), 'plain name.txt');
});

test('JSON lines: every field, always', () => {
  const s3: ScanTargetSpec = { kind: 's3', target: 's3://b/k', bucket: 'b', key: 'k' };
  const line = jsonLine({ target: s3, outcome: { status: 'infected', signature: 'X' }, bytes: 68, versionId: 'v1', eTag: 'e' });
  assert.deepEqual(JSON.parse(line), {
    target: 's3://b/k',
    kind: 's3',
    status: 'INFECTED',
    signature: 'X',
    reason: null,
    detail: null,
    bytes: 68,
    bucket: 'b',
    key: 'k',
    versionId: 'v1',
    eTag: 'e',
  });
  assert.deepEqual(JSON.parse(jsonLine(report({ status: 'error', detail: 'no such file' }))), {
    target: 'f.txt',
    kind: 'file',
    status: 'ERROR',
    signature: null,
    reason: null,
    detail: 'no such file',
    bytes: null,
    bucket: null,
    key: null,
    versionId: null,
    eTag: null,
  });
  assert.equal(JSON.parse(jsonLine(report({ status: 'clean' }, { kind: 'stdin', target: '-' })))['target'], '-');
  // A newline in a name stays inside the JSON string: still one line.
  assert.equal(jsonLine(report({ status: 'clean' }, file('a\nb'))).split('\n').length, 1);
});
