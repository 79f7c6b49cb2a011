import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBeforeScan, dispose, quarantineKeys } from '../../src/pipeline/decide.ts';
import { buildForwardMessage, buildNotification, buildReport } from '../../src/pipeline/report.ts';
import type { ScanTarget } from '../../src/events/record.ts';

const target: ScanTarget = {
  bucket: 'unprocessed',
  key: '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34/évil file.exe',
  submissionGuid: '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34',
  filename: 'évil file.exe',
  size: 68,
  eTag: 'abc',
  versionId: undefined,
  eventName: 'ObjectCreated:Put',
  eventTime: '2026-11-21T10:00:00.000Z',
  record: { eventName: 'ObjectCreated:Put', s3: { object: { key: 'k' } } },
};
const found = { kind: 'found' as const, size: 68, eTag: 'abc', versionId: undefined };

test('before the scan: gone, changed, too large, or scan', () => {
  assert.deepEqual(decideBeforeScan(target, { kind: 'gone' }, 100), { action: 'drop', reason: 'object no longer exists' });
  assert.equal(decideBeforeScan(target, { kind: 'precondition-failed' }, 100).action, 'drop');
  assert.match(JSON.stringify(decideBeforeScan(target, { ...found, eTag: 'other' }, 100)), /eTag differs/);
  assert.match(JSON.stringify(decideBeforeScan({ ...target, versionId: 'v1' }, { ...found, versionId: 'v2' }, 100)), /versionId differs/);
  assert.deepEqual(decideBeforeScan(target, found, 67), { action: 'judged', verdict: { status: 'too-large', size: 68, maxBytes: 67 } });
  assert.deepEqual(decideBeforeScan(target, found, 68), { action: 'scan' });
  // The event's size is only a hint; S3's answer decides.
  assert.deepEqual(decideBeforeScan({ ...target, size: 10_000 }, found, 100), { action: 'scan' });
});

test('a verdict decides where the file goes: clean forwards, infected and too large quarantine', () => {
  assert.deepEqual(dispose({ status: 'clean' }), { action: 'forward', verdict: { status: 'clean' } });
  for (const action of ['quarantine', 'forward'] as const) {
    const infected = { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' } as const;
    assert.deepEqual(dispose(infected, action), { action: 'quarantine', verdict: infected });
    const tooLarge = { status: 'too-large', size: 2, maxBytes: 1 } as const;
    assert.deepEqual(dispose(tooLarge, action), { action: 'quarantine', verdict: tooLarge });
    assert.deepEqual(dispose({ status: 'clean' }, action), { action: 'forward', verdict: { status: 'clean' } });
  }
});

const encryptedZip = {
  status: 'unscannable',
  reason: 'encrypted',
  detail: 'encrypted Zip content that clamd cannot open',
  signature: 'Heuristics.Encrypted.Zip',
} as const;

test('unscannable is quarantined by default, never forwarded as clean', () => {
  assert.deepEqual(dispose(encryptedZip), { action: 'quarantine', verdict: encryptedZip });
  assert.deepEqual(dispose(encryptedZip, 'quarantine'), { action: 'quarantine', verdict: encryptedZip });
});

test('with UNSCANNABLE_ACTION=forward, unscannable goes on (marked UNSCANNABLE by its spelling)', () => {
  assert.deepEqual(dispose(encryptedZip, 'forward'), { action: 'forward', verdict: encryptedZip });
  const streamLimit = { status: 'unscannable', reason: 'stream-limit', detail: 'too long', signature: null } as const;
  assert.deepEqual(dispose(streamLimit, 'forward'), { action: 'forward', verdict: streamLimit });
});

test('quarantine keys keep the original key under the prefix', () => {
  assert.deepEqual(quarantineKeys('q/', 'g/f.txt'), { object: 'q/g/f.txt', report: 'q/g/f.txt.report.json' });
  assert.deepEqual(quarantineKeys('', 'g/f.txt'), { object: 'g/f.txt', report: 'g/f.txt.report.json' });
  // A key near S3's 1024-byte limit cannot take the prefix and the report suffix.
  const long = `3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34/${'é'.repeat(490)}.exe`;
  const keys = quarantineKeys('quarantine/', long);
  assert.match(keys.object, /^quarantine\/3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34\/sha256-[0-9a-f]{64}$/);
  assert.equal(keys.report, `${keys.object}.report.json`);
  assert.deepEqual(quarantineKeys('quarantine/', long), keys, 'the same key always lands in the same place');
});

const engine = {
  clamav: '1.4.6',
  databaseVersion: 27000,
  databaseDate: '2026-11-20T09:00:00.000Z',
  raw: 'ClamAV 1.4.6/27000/Thu Nov 20 09:00:00 2026',
};

test('the report carries every field the contract names', () => {
  const report = buildReport({
    target,
    verdict: { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' },
    object: { size: 68, eTag: 'abc', versionId: 'v9' },
    quarantine: { bucket: 'quarantine', key: target.key, reportKey: `${target.key}.report.json` },
    scannedAt: new Date('2026-11-21T10:00:01.000Z'),
    engine,
  });
  assert.deepEqual(report, {
    key: target.key,
    submissionGuid: target.submissionGuid,
    filename: 'évil file.exe',
    time: '2026-11-21T10:00:00.000Z',
    reason: 'virus detected',
    status: 'INFECTED',
    signature: 'Win.Test.EICAR_HDB-1',
    bucket: 'unprocessed',
    versionId: 'v9',
    eTag: 'abc',
    size: 68,
    quarantine: { bucket: 'quarantine', key: target.key, reportKey: `${target.key}.report.json` },
    scannedAt: '2026-11-21T10:00:01.000Z',
    engine,
  });
  const tooLarge = buildReport({
    ...{
      target,
      object: { size: 1, eTag: undefined, versionId: undefined },
      quarantine: report.quarantine,
      scannedAt: new Date(0),
      engine: null,
    },
    verdict: { status: 'too-large', size: 1, maxBytes: 0 },
  });
  assert.equal(tooLarge.reason, 'file too large');
  assert.equal(tooLarge.status, 'TOO_LARGE');
  assert.equal(tooLarge.signature, null);
  assert.equal(tooLarge.versionId, null);
  assert.equal(tooLarge.eTag, 'abc', 'falls back to the event eTag');
});

test('the notification is the report, with an ASCII subject and filterable attributes', () => {
  const report = buildReport({
    target,
    verdict: { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' },
    object: { size: 68, eTag: 'abc', versionId: undefined },
    quarantine: { bucket: 'quarantine', key: 'k', reportKey: 'k.report.json' },
    scannedAt: new Date(0),
    engine: null,
  });
  const notification = buildNotification(report);
  assert.deepEqual(JSON.parse(notification.message), report);
  assert.match(notification.subject, /^[\x20-\x7e]{1,99}$/);
  assert.deepEqual(notification.attributes, {
    status: { DataType: 'String', StringValue: 'INFECTED' },
    bucket: { DataType: 'String', StringValue: 'unprocessed' },
    signature: { DataType: 'String', StringValue: 'Win.Test.EICAR_HDB-1' },
  });
  const tooLarge = buildNotification({ ...report, status: 'TOO_LARGE', signature: null });
  assert.equal(tooLarge.attributes['signature'], undefined);
  assert.equal(tooLarge.attributes['status']?.StringValue, 'TOO_LARGE');
});

test('an UNSCANNABLE report says so, with the detail; other reports have no detail', () => {
  const base = {
    target,
    object: { size: 68, eTag: 'abc', versionId: undefined },
    quarantine: { bucket: 'quarantine', key: 'k', reportKey: 'k.report.json' },
    scannedAt: new Date(0),
    engine: null,
  };
  const report = buildReport({
    ...base,
    verdict: {
      status: 'unscannable',
      reason: 'limit-exceeded',
      signature: 'Heuristics.Limits.Exceeded.MaxFiles',
      detail: "it holds more files than clamd's MaxFiles",
    },
  });
  assert.equal(report.status, 'UNSCANNABLE');
  assert.equal(report.reason, 'file could not be fully scanned');
  assert.equal(report.detail, "it holds more files than clamd's MaxFiles");
  assert.equal(report.signature, 'Heuristics.Limits.Exceeded.MaxFiles');
  const notification = buildNotification(report);
  assert.equal(notification.subject, 'bucketscan: file could not be fully scanned in unprocessed');
  assert.deepEqual(notification.attributes, {
    status: { DataType: 'String', StringValue: 'UNSCANNABLE' },
    bucket: { DataType: 'String', StringValue: 'unprocessed' },
    signature: { DataType: 'String', StringValue: 'Heuristics.Limits.Exceeded.MaxFiles' },
  });
  assert.deepEqual(JSON.parse(notification.message), report);
  assert.equal('detail' in buildReport({ ...base, verdict: { status: 'infected', signature: 'X' } }), false);
  assert.equal('detail' in buildReport({ ...base, verdict: { status: 'too-large', size: 68, maxBytes: 1 } }), false);
});

test('a file forwarded as UNSCANNABLE carries the status, the reason and the heuristic', () => {
  const message = buildForwardMessage(target, new Date('2026-11-21T10:00:01.000Z'), engine, encryptedZip);
  assert.deepEqual(JSON.parse(message.body), { Records: [target.record] });
  assert.deepEqual(message.attributes, {
    status: { DataType: 'String', StringValue: 'UNSCANNABLE' },
    scannedAt: { DataType: 'String', StringValue: '2026-11-21T10:00:01.000Z' },
    engine: { DataType: 'String', StringValue: engine.raw },
    reason: { DataType: 'String', StringValue: 'encrypted Zip content that clamd cannot open' },
    signature: { DataType: 'String', StringValue: 'Heuristics.Encrypted.Zip' },
  });
  const noSignature = buildForwardMessage(target, new Date(0), null, {
    status: 'unscannable',
    reason: 'stream-limit',
    detail: 'too long',
    signature: null,
  });
  assert.equal(noSignature.attributes['signature'], undefined, 'SQS refuses empty attribute values');
  assert.equal(noSignature.attributes['reason']?.StringValue, 'too long');
});

test('a clean file is forwarded as its own record, unchanged', () => {
  const message = buildForwardMessage(target, new Date('2026-11-21T10:00:01.000Z'), engine, { status: 'clean' });
  assert.deepEqual(JSON.parse(message.body), { Records: [target.record] });
  assert.equal(message.attributes['status']?.StringValue, 'CLEAN');
  assert.equal(message.attributes['engine']?.StringValue, engine.raw);
  assert.equal(message.attributes['scannedAt']?.StringValue, '2026-11-21T10:00:01.000Z');
  assert.equal(message.attributes['reason'], undefined);
  assert.equal(message.attributes['signature'], undefined);
});
