import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketNameProblem, parseS3Url } from '../../src/aws/s3-url.ts';

test('bucket names: S3 creation rules', () => {
  for (const good of ['abc', 'unprocessed', 'my.bucket-1', 'a'.repeat(63), '0ab', 'ap-xyz-s3alias', 'b--usw2-az1--x-s3']) {
    assert.equal(bucketNameProblem(good), undefined, good);
  }
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['ab', /3 to 63 characters long, not 2/],
    ['a'.repeat(64), /not 64/],
    ['Bucket', /lowercase letters, digits, dots and hyphens/],
    ['my_bucket', /lowercase letters, digits, dots and hyphens/],
    ['-abc', /begin and end/],
    ['abc.', /begin and end/],
    ['a..b', /two dots/],
    ['192.168.5.4', /IP address/],
    ['bück', /lowercase letters/],
  ];
  for (const [name, problem] of bad) assert.match(bucketNameProblem(name) ?? 'accepted', problem, JSON.stringify(name));
});

test('s3:// URLs: bucket and literal key', () => {
  assert.deepEqual(parseS3Url('s3://unprocessed/a/b c.txt'), { ok: true, value: { bucket: 'unprocessed', key: 'a/b c.txt' } });
  // Literal, as the AWS CLI reads them: no percent-decoding, ? and # belong to the key.
  assert.deepEqual(parseS3Url('s3://bkt/a%20b?versionId=1#x'), { ok: true, value: { bucket: 'bkt', key: 'a%20b?versionId=1#x' } });
  assert.deepEqual(parseS3Url('s3://bkt//leading'), { ok: true, value: { bucket: 'bkt', key: '/leading' } });
  assert.deepEqual(parseS3Url('s3://bkt/dir/'), { ok: true, value: { bucket: 'bkt', key: 'dir/' } });
});

test('s3:// URLs: each malformed shape has its reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['s3://', /^no bucket name/],
    ['s3:///key', /^no bucket name/],
    ['s3://bucket', /^no object key/],
    ['s3://bucket/', /^no object key/],
    ['s3://Bad_Bucket/key', /^invalid bucket name "Bad_Bucket": /],
    ['s3://a..b/key', /two dots/],
    ['s3://bucket/a\nb', /control character \(U\+000A\)/],
    [`s3://bucket/${'k'.repeat(1025)}`, /1025 bytes long/],
    ['https://bucket/key', /starts with s3:\/\//],
  ];
  for (const [url, reason] of cases) {
    const parsed = parseS3Url(url);
    assert.equal(parsed.ok, false, url);
    if (!parsed.ok) assert.match(parsed.reason, reason, url);
  }
  // A control character in a bucket name is quoted, never printed raw.
  const parsed = parseS3Url('s3://a\u001b[2Jb/key');
  assert.ok(!parsed.ok && parsed.reason.includes('"a\\u001b[2Jb"'), JSON.stringify(parsed));
});
