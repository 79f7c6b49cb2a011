// The fail-closed bucket policy's structure. No emulator here enforces bucket
// policies, so these tests pin down the document itself: which actions each
// statement denies, under which conditions, and who is exempt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketPolicy, PolicyInputError, tagKeyProblem, type PolicyStatement } from '../../src/policy/bucket-policy.ts';
import { CLEAN_STATUS, DEFAULT_STATUS_TAG } from '../../src/verdict/verdict.ts';

const SCANNER = 'arn:aws:iam::123456789012:role/service-role/bucketscan-worker';
const READER = 'arn:aws:iam::123456789012:role/incident-response';
const USER = 'arn:aws:iam::210987654321:user/ops/alice';

function statement(statements: PolicyStatement[], sid: string): PolicyStatement {
  const found = statements.find((s) => s.Sid === sid);
  assert.ok(found, `statement ${sid}`);
  return found;
}

test('four Deny statements on the bucket objects, for everyone', () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER });
  assert.equal(policy.Version, '2012-10-17');
  assert.deepEqual(
    policy.Statement.map((s) => s.Sid),
    [
      'DenyReadUnlessScannedClean',
      'DenyStatusTagWritesExceptScanner',
      'DenyTagChangesOnScannedObjectsExceptScanner',
      'DenyCopiesInExceptScanner',
    ],
  );
  for (const s of policy.Statement) {
    assert.equal(s.Effect, 'Deny');
    assert.equal(s.Principal, '*');
    assert.equal(s.Resource, 'arn:aws:s3:::unprocessed/*');
    // No IfExists variants: their absent-key rules differ, and each condition here
    // relies on the plain operators' documented behaviour.
    assert.ok(
      Object.keys(s.Condition).every((operator) => !operator.endsWith('IfExists')),
      s.Sid,
    );
  }
  assert.equal(DEFAULT_STATUS_TAG, 'bucketscan-status');
});

test('reads: denied unless the status tag is CLEAN, untagged objects included, except scanner and readers', () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER, USER] });
  const read = statement(policy.Statement, 'DenyReadUnlessScannedClean');
  assert.deepEqual(read.Action, ['s3:GetObject', 's3:GetObjectVersion']);
  assert.deepEqual(read.Condition, {
    // A negated operator on a key the request lacks is true: an object with no
    // status tag matches, so the Deny applies to it (fail-closed). A positive
    // operator (StringEquals on some "bad" value) would leave it readable.
    StringNotEquals: { 's3:ExistingObjectTag/bucketscan-status': CLEAN_STATUS },
    // Several values under a negated operator are a NOR: exempt only if the caller is one of them.
    ArnNotLike: { 'aws:PrincipalArn': [SCANNER, READER, USER] },
  });
  assert.equal(CLEAN_STATUS, 'CLEAN');
});

test("GuardDuty's words (STATUS_TAG_STYLE=guardduty): its key by default, reads open on NO_THREATS_FOUND only", () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, statusTagStyle: 'guardduty' });
  const read = statement(policy.Statement, 'DenyReadUnlessScannedClean');
  assert.deepEqual(read.Condition['StringNotEquals'], { 's3:ExistingObjectTag/GuardDutyMalwareScanStatus': 'NO_THREATS_FOUND' });
  const write = statement(policy.Statement, 'DenyStatusTagWritesExceptScanner');
  assert.deepEqual(write.Condition['ForAnyValue:StringEquals'], { 's3:RequestObjectTagKeys': ['GuardDutyMalwareScanStatus'] });
  const keyed = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, statusTagStyle: 'guardduty', tagKey: 'av' });
  assert.deepEqual(statement(keyed.Statement, 'DenyReadUnlessScannedClean').Condition['StringNotEquals'], {
    's3:ExistingObjectTag/av': 'NO_THREATS_FOUND',
  });
});

test('the status tag key: only the scanner may set it, at upload or afterwards', () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER] });
  const write = statement(policy.Statement, 'DenyStatusTagWritesExceptScanner');
  assert.deepEqual(write.Action, ['s3:PutObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging']);
  assert.deepEqual(write.Condition, {
    'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['bucketscan-status'] },
    ArnNotLike: { 'aws:PrincipalArn': [SCANNER] },
  });
});

test('tags of a scanned object: only the scanner changes or removes them', () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER] });
  const change = statement(policy.Statement, 'DenyTagChangesOnScannedObjectsExceptScanner');
  assert.deepEqual(change.Action, [
    's3:PutObjectTagging',
    's3:PutObjectVersionTagging',
    's3:DeleteObjectTagging',
    's3:DeleteObjectVersionTagging',
  ]);
  assert.deepEqual(change.Condition, {
    Null: { 's3:ExistingObjectTag/bucketscan-status': 'false' },
    ArnNotLike: { 'aws:PrincipalArn': [SCANNER] },
  });
});

test('copies into the bucket: only the scanner (CopyObject would carry a forged tag along)', () => {
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER] });
  const copy = statement(policy.Statement, 'DenyCopiesInExceptScanner');
  assert.deepEqual(copy.Action, ['s3:PutObject']);
  assert.deepEqual(copy.Condition, {
    Null: { 's3:x-amz-copy-source': 'false' },
    ArnNotLike: { 'aws:PrincipalArn': [SCANNER] },
  });
});

test('releasers (bucketscan release) may copy a file back with its status set, and nothing more', () => {
  const RELEASER = 'arn:aws:iam::123456789012:role/bucketscan-oncall';
  const policy = bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, readerArns: [READER], releaserArns: [RELEASER, SCANNER] });
  const exempt = { ArnNotLike: { 'aws:PrincipalArn': [SCANNER, RELEASER] } };
  assert.deepEqual(statement(policy.Statement, 'DenyStatusTagWritesExceptScanner').Condition, {
    'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['bucketscan-status'] },
    ...exempt,
  });
  assert.deepEqual(statement(policy.Statement, 'DenyCopiesInExceptScanner').Condition, {
    Null: { 's3:x-amz-copy-source': 'false' },
    ...exempt,
  });
  // No read exemption, and no changing the tags of a scanned object.
  assert.deepEqual(statement(policy.Statement, 'DenyReadUnlessScannedClean').Condition['ArnNotLike'], {
    'aws:PrincipalArn': [SCANNER, READER],
  });
  assert.deepEqual(statement(policy.Statement, 'DenyTagChangesOnScannedObjectsExceptScanner').Condition['ArnNotLike'], {
    'aws:PrincipalArn': [SCANNER],
  });
  assert.throws(
    () => bucketPolicy({ bucket: 'unprocessed', scannerRoleArn: SCANNER, releaserArns: ['arn:aws:sts::123456789012:assumed-role/x/y'] }),
    (error: unknown) => error instanceof PolicyInputError && error.input === 'releaserArns',
  );
});

test('custom tag key, other partitions, readers deduplicated', () => {
  const scanner = 'arn:aws-cn:iam::123456789012:role/scanner';
  const policy = bucketPolicy({
    bucket: 'uploads.example',
    scannerRoleArn: scanner,
    readerArns: ['arn:aws-cn:iam::123456789012:role/r', 'arn:aws-cn:iam::123456789012:role/r', scanner],
    tagKey: 'scan status:v2',
  });
  const read = statement(policy.Statement, 'DenyReadUnlessScannedClean');
  assert.equal(read.Resource, 'arn:aws-cn:s3:::uploads.example/*');
  assert.deepEqual(read.Condition['StringNotEquals'], { 's3:ExistingObjectTag/scan status:v2': 'CLEAN' });
  assert.deepEqual(read.Condition['ArnNotLike'], { 'aws:PrincipalArn': [scanner, 'arn:aws-cn:iam::123456789012:role/r'] });
  assert.deepEqual(statement(policy.Statement, 'DenyStatusTagWritesExceptScanner').Condition['ForAnyValue:StringEquals'], {
    's3:RequestObjectTagKeys': ['scan status:v2'],
  });
});

test('bad inputs name the option and the problem', () => {
  const cases: Array<[Parameters<typeof bucketPolicy>[0], string, RegExp]> = [
    [{ bucket: 'Bad_Bucket', scannerRoleArn: SCANNER }, 'bucket', /"Bad_Bucket" is not a bucket name: /],
    [{ bucket: 'b', scannerRoleArn: SCANNER }, 'bucket', /3 to 63 characters/],
    [{ bucket: 'ok-bucket', scannerRoleArn: 'bucketscan-worker' }, 'scannerRoleArn', /is not an IAM role ARN/],
    [{ bucket: 'ok-bucket', scannerRoleArn: 'arn:aws:iam::12345:role/x' }, 'scannerRoleArn', /is not an IAM role ARN/],
    [{ bucket: 'ok-bucket', scannerRoleArn: 'arn:aws:iam::123456789012:role/worker*' }, 'scannerRoleArn', /is not an IAM role ARN/],
    [{ bucket: 'ok-bucket', scannerRoleArn: USER }, 'scannerRoleArn', /is a user: the scanner must be the worker's role/],
    [
      { bucket: 'ok-bucket', scannerRoleArn: 'arn:aws:sts::123456789012:assumed-role/worker/session-1' },
      'scannerRoleArn',
      /is a role session, not a role/,
    ],
    [
      { bucket: 'ok-bucket', scannerRoleArn: `arn:aws:iam::123456789012:role/${'n'.repeat(65)}` },
      'scannerRoleArn',
      /at most 64 characters/,
    ],
    [
      { bucket: 'ok-bucket', scannerRoleArn: SCANNER, readerArns: ['arn:aws:iam::123456789012:group/admins'] },
      'readerArns',
      /role or user ARN/,
    ],
    [
      { bucket: 'ok-bucket', scannerRoleArn: SCANNER, readerArns: ['arn:aws-cn:iam::123456789012:role/r'] },
      'readerArns',
      /partition aws-cn, the bucket in aws/,
    ],
    [
      { bucket: 'ok-bucket', scannerRoleArn: SCANNER, partition: 'aws-us-gov' },
      'scannerRoleArn',
      /partition aws, the bucket in aws-us-gov/,
    ],
    [{ bucket: 'ok-bucket', scannerRoleArn: SCANNER, partition: 'azure' }, 'partition', /not an AWS partition/],
    [{ bucket: 'ok-bucket', scannerRoleArn: SCANNER, tagKey: '' }, 'tagKey', /cannot be empty/],
    [{ bucket: 'ok-bucket', scannerRoleArn: SCANNER, tagKey: 'k'.repeat(129) }, 'tagKey', /at most 128 characters, not 129/],
    [{ bucket: 'ok-bucket', scannerRoleArn: SCANNER, tagKey: 'status*' }, 'tagKey', /only letters, digits, spaces/],
    [{ bucket: 'ok-bucket', scannerRoleArn: SCANNER, tagKey: 'aws:status' }, 'tagKey', /reserved/],
    [
      {
        bucket: 'ok-bucket',
        scannerRoleArn: SCANNER,
        readerArns: Array.from({ length: 500 }, (_, i) => `arn:aws:iam::123456789012:role/reader-${i}`),
      },
      'readerArns',
      /over S3's 20480-byte limit/,
    ],
  ];
  for (const [options, input, message] of cases) {
    assert.throws(
      () => bucketPolicy(options),
      (error: unknown) =>
        error instanceof PolicyInputError && error.input === input && message.test(error.message) && !error.message.includes('\n'),
      JSON.stringify(options).slice(0, 200),
    );
  }
});

test('tag keys: S3 rules', () => {
  for (const good of ['bucketscan-status', 'k', 'a'.repeat(128), 'é/ü:=+@._-', 'scan status'])
    assert.equal(tagKeyProblem(good), undefined, good);
  assert.match(tagKeyProblem(' status') ?? '', /space/);
  assert.match(tagKeyProblem('sta\ttus') ?? '', /only letters/);
  // 128 characters, not bytes: a key of 128 two-byte letters is valid.
  assert.equal(tagKeyProblem('é'.repeat(128)), undefined);
});

test('folders: each statement covers exactly the folders given (a source bucket scanned only under prefixes), no more', () => {
  const document = bucketPolicy({ bucket: 'shared', prefixes: ['submissions/', 'held/', 'submissions/'], scannerRoleArn: SCANNER });
  for (const statement of document.Statement) {
    assert.deepEqual(statement.Resource, ['arn:aws:s3:::shared/submissions/*', 'arn:aws:s3:::shared/held/*']);
  }
  assert.equal(
    bucketPolicy({ bucket: 'shared', prefixes: ['in/'], scannerRoleArn: SCANNER }).Statement[0]!.Resource,
    'arn:aws:s3:::shared/in/*',
  );
  assert.equal(bucketPolicy({ bucket: 'shared', scannerRoleArn: SCANNER }).Statement[0]!.Resource, 'arn:aws:s3:::shared/*');
  assert.throws(
    () => bucketPolicy({ bucket: 'shared', prefixes: ['odd*/'], scannerRoleArn: SCANNER }),
    (error: unknown) => error instanceof PolicyInputError && /holds \* or \?/.test(error.message),
  );
});
