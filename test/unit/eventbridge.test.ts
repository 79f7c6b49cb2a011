// The third shape of inbound message: S3's "Object Created" events through
// EventBridge. How the key is decoded (as in S3 notifications: `+` a space, `%2B`
// a plus), which events are refused and why, what a clean one is forwarded as,
// and the quirks of emulators that are tolerated. Keys with spaces, plus signs
// and non-ASCII characters go through all three shapes here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord, type RecordCheck } from '../../src/events/record.ts';
import { checkEventBridgeEvent, EVENTBRIDGE_CONFIGURATION_ID } from '../../src/events/eventbridge.ts';
import { buildEventDocument, buildObjectCreatedRecord, encodeEventKey } from '../../src/events/s3-event.ts';

const GUID = '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34';
const rules = { bucket: 'unprocessed', prefix: '' };
const fixture = () => readFileSync(new URL('../fixtures/events/eventbridge-object-created.json', import.meta.url), 'utf8');

/** An EventBridge "Object Created" event as S3 sends it, for `key` encoded as S3 encodes it. */
function eventFor(
  key: string,
  overrides: { detail?: Record<string, unknown>; object?: Record<string, unknown>; [field: string]: unknown } = {},
) {
  const { detail, object, ...top } = overrides;
  return {
    version: '0',
    id: '0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-11-21T10:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:s3:::unprocessed'],
    detail: {
      version: '0',
      bucket: { name: 'unprocessed' },
      object: { key: encodeEventKey(key), size: 5, etag: 'abc', 'version-id': 'v1', sequencer: '00AB', ...object },
      'request-id': 'REQ1',
      requester: '123456789012',
      'source-ip-address': '198.51.100.7',
      reason: 'PutObject',
      ...detail,
    },
    ...top,
  };
}

function ok(check: RecordCheck) {
  assert.equal(check.ok, true, check.ok ? '' : check.reason);
  if (!check.ok) throw new Error('unreachable');
  return check.target;
}

function reasonOf(check: RecordCheck): string {
  assert.equal(check.ok, false);
  if (check.ok) throw new Error('unreachable');
  return check.reason;
}

/** A body in each of the three shapes for the same decoded key. */
function shapes(key: string): Record<string, string> {
  const record = buildObjectCreatedRecord({
    bucket: 'unprocessed',
    key,
    size: 5,
    eTag: 'abc',
    eventName: 'ObjectCreated:Put',
    region: 'eu-west-1',
    eventTime: new Date('2026-11-21T10:00:00.000Z'),
    sequencer: '00AB',
  });
  const document = JSON.stringify(buildEventDocument([record]));
  return {
    's3 -> sqs': document,
    's3 -> sns -> sqs': JSON.stringify({
      Type: 'Notification',
      MessageId: 'm',
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
      Message: document,
    }),
    'eventbridge -> sqs': JSON.stringify(eventFor(key)),
  };
}

/** The target a body names, through the checker its shape calls for (as processMessage does). */
function targetOf(body: string) {
  const parsed = parseMessageBody(body);
  assert.equal(parsed.kind, 'records', parsed.kind === 'invalid' ? parsed.reason : parsed.kind);
  if (parsed.kind !== 'records') throw new Error('unreachable');
  const check = parsed.shape === 'eventbridge' ? checkEventBridgeEvent(parsed.records[0], rules) : checkRecord(parsed.records[0], rules);
  return ok(check);
}

test('keys with spaces, plus signs and non-ASCII characters decode to the same key in all three shapes', () => {
  for (const filename of [
    'a b.txt',
    'c++ notes+v2.txt',
    'a + b = c.pdf',
    'über straße.pdf',
    '日本語 ファイル.txt',
    'emoji 😀+.bin',
    'cafe\u0301.txt',
    '100% sure.txt',
  ]) {
    const key = `${GUID}/${filename}`;
    for (const [shape, body] of Object.entries(shapes(key))) {
      const target = targetOf(body);
      assert.equal(target.key, key, `${shape}: ${filename}`);
      assert.equal(target.filename, filename, `${shape}: ${filename}`);
    }
  }
});

test('the S3 document of EventBridge events: detail read, key decoded, a clean file forwarded as an S3 record', () => {
  const parsed = parseMessageBody(fixture());
  assert.equal(parsed.kind === 'records' && parsed.shape, 'eventbridge');
  if (parsed.kind !== 'records') return;
  assert.equal(parsed.envelope, 'direct');
  const target = ok(checkEventBridgeEvent(parsed.records[0], rules));
  assert.equal(target.key, `${GUID}/annual report + übersicht.pdf`);
  assert.equal(target.size, 2048);
  assert.equal(target.eTag, '0cc175b9c0f1b6a831c399e269772661');
  assert.equal(target.versionId, 'Zr4.8k1dV0pQ9x3Lm2nB7cT5yH6jG1fA');
  assert.equal(target.eventName, 'ObjectCreated:Put');
  assert.equal(target.eventTime, '2026-11-21T10:00:00Z');
  // What the validation queue receives: an S3 notification record of the same object, the key encoded as S3 encodes it.
  assert.deepEqual(target.record, {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'eu-west-1',
    eventTime: '2026-11-21T10:00:00Z',
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: '123456789012' },
    requestParameters: { sourceIPAddress: '198.51.100.7' },
    responseElements: { 'x-amz-request-id': 'Q1W2E3R4T5Y6U7I8' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: EVENTBRIDGE_CONFIGURATION_ID,
      bucket: { name: 'unprocessed', ownerIdentity: { principalId: '123456789012' }, arn: 'arn:aws:s3:::unprocessed' },
      object: {
        key: `${GUID}/annual+report+%2B+%C3%BCbersicht.pdf`,
        size: 2048,
        eTag: '0cc175b9c0f1b6a831c399e269772661',
        versionId: 'Zr4.8k1dV0pQ9x3Lm2nB7cT5yH6jG1fA',
        sequencer: '0063D1A5C2E0B7F3A4',
      },
    },
  });
  // That record passes the S3 checks itself and names the same object.
  const again = ok(checkRecord(target.record, rules));
  assert.equal(again.key, target.key);
  assert.equal(again.versionId, target.versionId);
});

test('only what decides is required: a minimal event is read, and forwarded with only what it carries', () => {
  const minimal = {
    'detail-type': 'Object Created',
    source: 'aws.s3',
    time: '2026-11-21T10:00:00Z',
    detail: { bucket: { name: 'unprocessed' }, object: { key: `${GUID}/a+b.txt` } },
  };
  const target = ok(checkEventBridgeEvent(minimal, rules));
  assert.equal(target.key, `${GUID}/a b.txt`);
  assert.equal(target.size, undefined);
  assert.equal(target.eTag, undefined);
  assert.deepEqual(target.record, {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventTime: '2026-11-21T10:00:00Z',
    eventName: 'ObjectCreated:Put',
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: EVENTBRIDGE_CONFIGURATION_ID,
      bucket: { name: 'unprocessed', arn: 'arn:aws:s3:::unprocessed' },
      object: { key: `${GUID}/a+b.txt` },
    },
  });
});

test('the creation API in `reason` becomes the eventName S3 notifications use', () => {
  const name = (reason: unknown, etag = 'abc') =>
    ok(checkEventBridgeEvent(eventFor(`${GUID}/a`, { detail: { reason }, object: { etag } }), rules)).eventName;
  assert.equal(name('PutObject'), 'ObjectCreated:Put');
  assert.equal(name('POST Object'), 'ObjectCreated:Post');
  assert.equal(name('CopyObject'), 'ObjectCreated:Copy');
  assert.equal(name('CompleteMultipartUpload'), 'ObjectCreated:CompleteMultipartUpload');
  // Anything else (moto says "ObjectCreated"): told from the ETag, as the local stack's notifications do.
  assert.equal(name('ObjectCreated'), 'ObjectCreated:Put');
  assert.equal(name(undefined, 'abc-3'), 'ObjectCreated:CompleteMultipartUpload');
});

test('tolerated: `eTag` for `etag`, "null" as no version id; the key is always decoded', () => {
  const moto = eventFor(`${GUID}/x`, { object: { etag: undefined, eTag: '"quoted"', 'version-id': 'null' } });
  const target = ok(checkEventBridgeEvent(moto, rules));
  assert.equal(target.eTag, 'quoted');
  assert.equal(target.versionId, undefined, 'the null version pins nothing: the eTag does');
  // moto sends keys unencoded: a literal "+" is read as S3 would have meant it (a space); "%" alone is malformed.
  const raw = eventFor(`${GUID}/x`, { object: { key: `${GUID}/a+b.txt` } });
  assert.equal(ok(checkEventBridgeEvent(raw, rules)).key, `${GUID}/a b.txt`);
  assert.match(reasonOf(checkEventBridgeEvent(eventFor('x', { object: { key: `${GUID}/100%.txt` } }), rules)), /percent-encoded/);
});

test('other EventBridge events are invalid messages with a clear reason', () => {
  const reason = (document: unknown) => {
    const parsed = parseMessageBody(JSON.stringify(document));
    assert.equal(parsed.kind, 'invalid');
    return parsed.kind === 'invalid' ? parsed.reason : '';
  };
  assert.equal(
    reason(eventFor('k', { 'detail-type': 'Object Deleted' })),
    'EventBridge event "Object Deleted" is not an object creation ("Object Created")',
  );
  assert.equal(
    reason(eventFor('k', { 'detail-type': 'Object Restore Completed' })),
    'EventBridge event "Object Restore Completed" is not an object creation ("Object Created")',
  );
  assert.equal(
    reason(eventFor('k', { source: 'aws.guardduty', 'detail-type': 'GuardDuty Malware Protection Object Scan Result' })),
    'EventBridge event from "aws.guardduty" is not an S3 event (source "aws.s3")',
  );
  // bucketscan's own result events, looped back to the inbound queue by a careless rule, are not scanned again.
  assert.equal(
    reason({ ...eventFor('k'), source: 'bucketscan', 'detail-type': 'Object Scan Result' }),
    'EventBridge event from "bucketscan" is not an S3 event (source "aws.s3")',
  );
  assert.equal(reason({ ...eventFor('k'), source: undefined }), 'EventBridge event has no source "aws.s3"');
});

test('a malformed "Object Created" event is one invalid record with the reason', () => {
  const reason = (event: unknown) => reasonOf(checkEventBridgeEvent(event, rules));
  assert.equal(reason({ ...eventFor('k'), detail: undefined }), 'event has no "detail" section');
  assert.equal(reason({ ...eventFor('k'), detail: 'x' }), 'event "detail" section is not an object');
  assert.equal(reason(eventFor('k', { detail: { bucket: {} } })), 'event has no bucket name');
  assert.equal(reason(eventFor('k', { object: { key: '' } })), 'event object key is empty');
  assert.equal(reason(eventFor('k', { object: { key: 7 } })), 'event object key is not a string');
  assert.equal(reason(eventFor(`${GUID}/a`, { object: { size: -1 } })), 'object size is not a non-negative integer');
  assert.equal(reason({ ...eventFor('k'), time: undefined }), 'event has no time');
  assert.match(reason(eventFor(`${GUID}/a`, { object: { etag: 'a\r\nb' } })), /eTag .* is not printable ASCII/);
  assert.equal(
    reason(eventFor(`${GUID}/a`, { detail: { bucket: { name: 'elsewhere' } } })),
    'bucket "elsewhere" is not the unprocessed bucket',
  );
  assert.equal(reason(eventFor('no-folder.txt')), 'object key has no "<submission_guid>/" folder');
  assert.equal(reason(eventFor(`${GUID}/a\nb`)), 'object key contains a control character (U+000A)');
  assert.match(reason({ ...eventFor(`${GUID}/a`), deep: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) }), /nested more than 32 levels/);
});

test('several sources: the bucket and folder pick one, its key layout applies; an unnamed bucket is invalid', () => {
  const sources = [
    { bucket: 'uploads', prefix: 'in/', keyLayout: 'submission' as const, name: 'a' },
    { bucket: 'imports', prefix: '', keyLayout: 'any' as const, name: 'b' },
  ];
  const check = (bucket: string, key: string) => checkEventBridgeEvent(eventFor(key, { detail: { bucket: { name: bucket } } }), sources);
  const found = check('uploads', `in/${GUID}/a.txt`);
  assert.ok(found.ok && found.source.name === 'a');
  const any = check('imports', 'deep/folders/any name.csv');
  assert.ok(any.ok && any.source.name === 'b');
  assert.equal(any.ok && any.target.submissionGuid, null);
  assert.equal(any.ok && any.target.filename, 'any name.csv');
  assert.equal(reasonOf(check('uploads', `out/${GUID}/a.txt`)), 'object key is outside the unprocessed prefix "in/"');
  assert.equal(reasonOf(check('other', 'x')), 'bucket "other" is not a scanned bucket (no source names it)');
  // The `any` layout takes every key S3 can hold, control characters included: refusing one would leave its file unscanned.
  const control = check('imports', 'a\u0001b\nc');
  assert.ok(control.ok, control.ok ? '' : control.reason);
  // Still refused: what S3 cannot hold.
  assert.match(reasonOf(check('imports', 'x'.repeat(1025))), /1025 bytes long/);
  // The same rules hold for S3 records.
  const record = JSON.parse(shapes('a\u0001b')['s3 -> sqs']!).Records[0];
  record.s3.bucket.name = 'imports';
  assert.ok(checkRecord(record, sources).ok);
});
