import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord, nestsDeeperThan, type RecordCheck } from '../../src/events/record.ts';
import { checkKeyText, decodeEventKey, parseSubmissionKey } from '../../src/events/key.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/events/${name}`, import.meta.url), 'utf8');
const rules = { bucket: 'unprocessed', prefix: '' };
const GUID = '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34';

function record(overrides: { key?: string; bucket?: string; eventName?: string; object?: Record<string, unknown> } = {}) {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventTime: '2026-11-21T10:00:00.000Z',
    eventName: overrides.eventName ?? 'ObjectCreated:Put',
    s3: {
      bucket: { name: overrides.bucket ?? 'unprocessed' },
      object: { key: overrides.key ?? `${GUID}/a.txt`, size: 10, eTag: 'abc', ...overrides.object },
    },
  };
}

function ok(check: RecordCheck) {
  assert.equal(check.ok, true, check.ok ? '' : check.reason);
  if (!check.ok) throw new Error('unreachable');
  return check.target;
}

function rejected(check: RecordCheck): string {
  assert.equal(check.ok, false);
  if (check.ok) throw new Error('unreachable');
  return check.reason;
}

test('the AWS documentation example parses and validates', () => {
  const parsed = parseMessageBody(fixture('aws-docs-put.json'));
  assert.equal(parsed.kind, 'records');
  if (parsed.kind !== 'records') return;
  assert.equal(parsed.envelope, 'direct');
  const target = ok(checkRecord(parsed.records[0], rules));
  assert.equal(target.key, `${GUID}/HappyFace.jpg`);
  assert.equal(target.submissionGuid, GUID);
  assert.equal(target.filename, 'HappyFace.jpg');
  assert.equal(target.size, 1024);
  assert.equal(target.eTag, 'd41d8cd98f00b204e9800998ecf8427e');
  assert.equal(target.versionId, '096fKKXTRTtl3on89fVO.nfljtsv6qko');
  assert.equal(target.eventTime, '1970-01-01T00:00:00.000Z');
  assert.deepEqual(target.record, JSON.parse(fixture('aws-docs-put.json')).Records[0]);
});

test('the s3:TestEvent is recognised', () => {
  assert.deepEqual(parseMessageBody(fixture('s3-test-event.json')), { kind: 'test-event' });
});

test('an SNS envelope is unwrapped, and its form-encoded key decoded', () => {
  const parsed = parseMessageBody(fixture('sns-envelope.json'));
  assert.equal(parsed.kind, 'records');
  if (parsed.kind !== 'records') return;
  assert.equal(parsed.envelope, 'sns');
  const target = ok(checkRecord(parsed.records[0], rules));
  assert.equal(target.filename, 'report 2026 (final).pdf');
  assert.equal(target.eTag, '9b2cf535f27731c974343645a3985328-6');
  assert.equal(target.versionId, undefined);
  assert.equal(target.eventName, 'ObjectCreated:CompleteMultipartUpload');
});

test('a test event inside an SNS envelope is still a test event', () => {
  const body = JSON.stringify({ Type: 'Notification', Message: fixture('s3-test-event.json') });
  assert.deepEqual(parseMessageBody(body), { kind: 'test-event' });
});

test('every record of a multi-record message is returned', () => {
  const body = JSON.stringify({ Records: [record(), record({ key: `${GUID}/b.txt` }), record({ key: 'bad' })] });
  const parsed = parseMessageBody(body);
  assert.equal(parsed.kind, 'records');
  if (parsed.kind !== 'records') return;
  assert.equal(parsed.records.length, 3);
  assert.deepEqual(
    parsed.records.map((r) => checkRecord(r, rules).ok),
    [true, true, false],
  );
});

test('bodies that are not S3 events are invalid with a specific reason', () => {
  const cases: Array<[string | undefined, RegExp]> = [
    [undefined, /empty/],
    ['', /empty/],
    ['not json', /not valid JSON/],
    ['[1,2]', /not a JSON object/],
    ['{"foo":1}', /no "Records"/],
    ['{"Records":{}}', /not an array/],
    ['{"Records":[]}', /empty/],
    ['{"Type":"Notification","Message":42}', /not a string/],
    ['{"Type":"Notification","Message":"{oops"}', /SNS envelope "Message" is not valid JSON/],
  ];
  for (const [body, reason] of cases) {
    const parsed = parseMessageBody(body);
    assert.equal(parsed.kind, 'invalid', String(body));
    if (parsed.kind === 'invalid') assert.match(parsed.reason, reason, String(body));
  }
});

test('keys are decoded as S3 encodes them', () => {
  assert.deepEqual(decodeEventKey('a+b%2Bc'), { ok: true, key: 'a b+c' });
  assert.deepEqual(decodeEventKey('dir%2Ffile'), { ok: true, key: 'dir/file' });
  assert.deepEqual(decodeEventKey('caf%C3%A9+%E6%96%87%E4%BB%B6.txt'), { ok: true, key: 'café 文件.txt' });
  assert.equal(decodeEventKey('bad%ZZ').ok, false);
  assert.equal(decodeEventKey('%C3%28').ok, false, 'invalid UTF-8');
});

test('keys with spaces, plus signs, encoded slashes and non-ASCII validate', () => {
  assert.equal(ok(checkRecord(record({ key: `${GUID}/my+file+%2B1.txt` }), rules)).filename, 'my file +1.txt');
  assert.equal(ok(checkRecord(record({ key: `${GUID}%2F%C3%BCber.pdf` }), rules)).filename, 'über.pdf');
  assert.equal(ok(checkRecord(record({ key: `${GUID.toUpperCase()}/x` }), rules)).filename, 'x');
});

test('the key layout is enforced', () => {
  assert.match(rejected(checkRecord(record({ key: 'no-folder.txt' }), rules)), /no "<submission_guid>\/" folder/);
  assert.match(rejected(checkRecord(record({ key: 'not-a-guid/file.txt' }), rules)), /not a submission GUID/);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/` }), rules)), /empty filename/);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/a/b.txt` }), rules)), /contains a slash/);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/a%2Fb.txt` }), rules)), /contains a slash/);
  assert.match(rejected(checkRecord(record({ key: `x/${GUID}/a.txt` }), rules)), /not a submission GUID/);
});

test('keyLayout any takes every key under the prefix that S3 allows; the length and Unicode rules still hold', () => {
  const any = { bucket: 'unprocessed', prefix: 'in/', keyLayout: 'any' as const };
  const target = ok(checkRecord(record({ key: 'in/deep/er/my+file.txt' }), any));
  assert.equal(target.key, 'in/deep/er/my file.txt');
  assert.equal(target.filename, 'my file.txt');
  assert.equal(target.submissionGuid, null);
  assert.equal(ok(checkRecord(record({ key: 'in/loose.txt' }), any)).filename, 'loose.txt');
  assert.match(rejected(checkRecord(record({ key: 'out/loose.txt' }), any)), /outside the unprocessed prefix "in\/"/);
  // S3 allows control characters, and so does the any layout (every place a key is written escapes them).
  assert.equal(ok(checkRecord(record({ key: 'in/line%0Abreak' }), any)).filename, 'line\nbreak');
});

test('the unprocessed prefix is required and stripped', () => {
  const prefixed = { bucket: 'unprocessed', prefix: 'incoming/' };
  const target = ok(checkRecord(record({ key: `incoming/${GUID}/a.txt` }), prefixed));
  assert.equal(target.key, `incoming/${GUID}/a.txt`);
  assert.equal(target.filename, 'a.txt');
  assert.match(rejected(checkRecord(record(), prefixed)), /outside the unprocessed prefix/);
  assert.deepEqual(parseSubmissionKey(`in/${GUID}/f`, 'in/'), { ok: true, value: { submissionGuid: GUID, filename: 'f' } });
});

test('other buckets and other events are rejected', () => {
  assert.match(rejected(checkRecord(record({ bucket: 'elsewhere' }), rules)), /not the unprocessed bucket/);
  assert.match(rejected(checkRecord(record({ eventName: 'ObjectRemoved:Delete' }), rules)), /not an object creation/);
  assert.equal(ok(checkRecord(record({ eventName: 's3:ObjectCreated:Copy' }), rules)).eventName, 'ObjectCreated:Copy');
});

test('size as a string, quoted eTags, and missing or empty versionIds are normalised', () => {
  const target = ok(checkRecord(record({ object: { size: '2048', eTag: '"abc-2"', versionId: '' } }), rules));
  assert.equal(target.size, 2048);
  assert.equal(target.eTag, 'abc-2');
  assert.equal(target.versionId, undefined);
  assert.equal(ok(checkRecord(record({ object: { versionId: null } }), rules)).versionId, undefined);
  assert.equal(ok(checkRecord(record({ object: { size: undefined } }), rules)).size, undefined);
  assert.match(rejected(checkRecord(record({ object: { size: 'lots' } }), rules)), /size/);
  assert.match(rejected(checkRecord(record({ object: { size: -1 } }), rules)), /size/);
});

test('records of the wrong shape say what is missing', () => {
  assert.match(rejected(checkRecord('x', rules)), /not a JSON object/);
  assert.match(rejected(checkRecord({ ...record(), eventVersion: '1.0' }, rules)), /eventVersion/);
  const { s3: _s3, ...noS3 } = record();
  assert.match(rejected(checkRecord(noS3, rules)), /"s3" section/);
  const noKey = record();
  const object: Record<string, unknown> = noKey.s3.object;
  delete object['key'];
  assert.match(rejected(checkRecord(noKey, rules)), /no object key/);
  assert.match(rejected(checkRecord({ ...record(), eventName: 7 }, rules)), /eventName/);
});

test('key rules: no control characters, at most 1024 UTF-8 bytes, no dot filenames, never normalised', () => {
  assert.deepEqual(checkKeyText(`${GUID}/a.txt`), { ok: true });
  for (const [char, name] of [
    ['\u0000', 'U+0000'],
    ['\n', 'U+000A'],
    ['\u001f', 'U+001F'],
    ['\u007f', 'U+007F'],
  ] as const) {
    assert.equal(
      rejected(checkRecord(record({ key: `${GUID}/a${encodeURIComponent(char)}b` }), rules)),
      `object key contains a control character (${name})`,
    );
  }
  assert.deepEqual(checkKeyText(`${GUID}/a\u0085\u2028b`), { ok: true }, 'C1 and line separators are not C0 controls');
  const fill = 1024 - GUID.length - 1;
  assert.equal(ok(checkRecord(record({ key: `${GUID}/${'a'.repeat(fill)}` }), rules)).key.length, 1024);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/${'a'.repeat(fill + 1)}` }), rules)), /1025 bytes long/);
  // 494 two-byte characters: 531 characters in all, but 1025 bytes.
  assert.match(rejected(checkRecord(record({ key: `${GUID}/${'%C3%A9'.repeat(494)}` }), rules)), /is 1025 bytes long/);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/..` }), rules)), /filename is "\.\."/);
  assert.match(rejected(checkRecord(record({ key: `${GUID}/.` }), rules)), /filename is "\."/);
  assert.equal(ok(checkRecord(record({ key: `${GUID}/cafe%CC%81` }), rules)).filename, 'cafe\u0301');
  assert.match(rejected(checkRecord(record({ key: `${GUID}/\ud800` }), rules)), /lone surrogate/);
});

test('eventSource, when present, is aws:s3; eTag and versionId are printable ASCII', () => {
  const { eventSource: _source, ...noSource } = record();
  assert.equal(ok(checkRecord(noSource, rules)).key, `${GUID}/a.txt`);
  assert.match(rejected(checkRecord({ ...record(), eventSource: 'aws:sqs' }, rules)), /eventSource/);
  assert.match(rejected(checkRecord(record({ object: { eTag: 'abc\r\nX: 1' } }), rules)), /eTag .* is not printable ASCII/);
  assert.match(rejected(checkRecord(record({ object: { versionId: 'v'.repeat(1025) } }), rules)), /versionId is longer than 1024 bytes/);
  assert.match(
    rejected(checkRecord({ ...record(), deep: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) }, rules)),
    /nested more than 32 levels/,
  );
});

test('nesting is counted by objects and arrays alone, exactly at the limit', () => {
  const nest = (levels: number): unknown => (levels === 0 ? 'leaf' : { a: 1, b: [nest(levels - 1)], c: null });
  // nest(n) is 2n levels of objects and arrays; scalars, null and strings add none.
  assert.equal(nestsDeeperThan(nest(16), 32), false);
  assert.equal(nestsDeeperThan(nest(17), 32), true);
  assert.equal(nestsDeeperThan('text', 0), false);
  assert.equal(nestsDeeperThan(null, 0), false);
  assert.equal(nestsDeeperThan({}, 0), true);
  // The deepest branch counts, wherever it sits among shallow ones.
  assert.equal(nestsDeeperThan({ x: {}, y: [1, 2, { z: [[[]]] }], w: 'w' }, 6), false);
  assert.equal(nestsDeeperThan({ x: {}, y: [1, 2, { z: [[[{}]]] }], w: 'w' }, 6), true);
});
