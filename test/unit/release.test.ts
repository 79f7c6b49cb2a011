// A release from quarantine as the worker sees it (src/pipeline/release.ts): where
// its audit record lives, and the one rule by which a released file stays released.
// The release command itself runs against moto in test/fidelity/release-moto.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectStore } from '../../src/pipeline/deps.ts';
import {
  coveringRelease,
  isReleaseId,
  newReleaseId,
  parseReleaseRecord,
  parseReleaseRecordKey,
  releaseCovers,
  releaseRecordKey,
  releaseRecordPrefix,
  ReleaseInProgress,
  type ReleaseRecord,
} from '../../src/pipeline/release.ts';
import { parseSince } from '../../src/commands/quarantine.ts';
import { RELEASED_TAG } from '../../src/verdict/verdict.ts';

const ID = '20260601T101500123Z-3fa9';
const quarantine = { bucket: 'quarantine', prefix: 'q/' };
const scanned = { bucket: 'uploads', key: 'a/invoice.pdf', versionId: 'v2', eTag: 'e2' };

function record(overrides: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    format: 'bucketscan-release',
    id: ID,
    state: 'done',
    releasedAt: '2026-06-01T10:15:00.123Z',
    releasedBy: { arn: 'arn:aws:sts::123456789012:assumed-role/oncall/alice', account: '123456789012', userId: 'AROA:alice' },
    reason: 'INC-1',
    force: false,
    quarantine: { bucket: 'quarantine', key: 'q/a/invoice.pdf', reportKey: 'q/a/invoice.pdf.report.json' },
    overridden: {
      status: 'INFECTED',
      signature: 'Custom.Acme-1.UNOFFICIAL',
      signatureOrigin: 'custom',
      scannedAt: '2026-06-01T10:00:00.000Z',
    },
    restored: { bucket: 'uploads', key: 'a/invoice.pdf', versionId: 'v2', eTag: 'e2' },
    ...overrides,
  };
}

test('release ids and record keys: beside the quarantined file, shortened past 1024 bytes, read back', () => {
  const id = newReleaseId(new Date('2026-06-01T10:15:00.123Z'));
  assert.match(id, /^20260601T101500123Z-[0-9a-f]{4}$/);
  assert.ok(isReleaseId(id) && !isReleaseId('x') && !isReleaseId(`${id}x`));
  assert.equal(releaseRecordKey('q/a/invoice.pdf', ID), `q/a/invoice.pdf.release-${ID}.json`);
  assert.deepEqual(parseReleaseRecordKey(`q/a/invoice.pdf.release-${ID}.json`), { quarantineKey: 'q/a/invoice.pdf', id: ID });
  assert.equal(parseReleaseRecordKey('q/a/invoice.pdf.report.json'), undefined);
  assert.equal(parseReleaseRecordKey('q/a/my.release-notes.json'), undefined);
  const long = `q/folder/${'x'.repeat(1000)}`;
  const key = releaseRecordKey(long, ID);
  assert.ok(Buffer.byteLength(key) <= 1024);
  assert.match(key, /^q\/folder\/sha256-[0-9a-f]{64}\.release-/);
  assert.ok(key.startsWith(releaseRecordPrefix(long)));
  assert.ok(releaseRecordKey('q/a/invoice.pdf', ID).startsWith(releaseRecordPrefix('q/a/invoice.pdf')));
  assert.deepEqual(parseReleaseRecord(record()), record());
  assert.equal(parseReleaseRecord({ ...record(), reason: '' }), undefined, 'a release without a why is no release');
  assert.equal(parseReleaseRecord({ ...record(), format: 'other' }), undefined);
});

test('a release covers its own version only, and only a clean scan or the very verdict it overrode', () => {
  const infected = { status: 'infected', signature: 'Custom.Acme-1.UNOFFICIAL' } as const;
  assert.equal(releaseCovers(record(), scanned, infected), true);
  assert.equal(releaseCovers(record(), scanned, { status: 'clean' }), true);
  // A new finding is a new finding.
  assert.equal(releaseCovers(record(), scanned, { status: 'infected', signature: 'Win.Trojan.Other-1' }), false);
  assert.equal(
    releaseCovers(record(), scanned, { status: 'unscannable', reason: 'encrypted', detail: 'x', signature: 'Heuristics.Encrypted.Zip' }),
    false,
  );
  // Another version (a later upload that copied the tag) is not covered.
  assert.equal(releaseCovers(record(), { ...scanned, versionId: 'v3' }, infected), false);
  assert.equal(releaseCovers(record(), { ...scanned, key: 'a/other.pdf' }, infected), false);
  assert.equal(releaseCovers(record({ state: 'started' }), scanned, infected), false);
  // An unversioned bucket: by ETag.
  const unversioned = record({ restored: { bucket: 'uploads', key: 'a/invoice.pdf', versionId: null, eTag: 'e2' } });
  assert.equal(releaseCovers(unversioned, { ...scanned, versionId: undefined }, infected), true);
  assert.equal(releaseCovers(unversioned, { ...scanned, versionId: undefined, eTag: 'e3' }, infected), false);
  const tooLarge = record({ overridden: { status: 'TOO_LARGE', signature: null, signatureOrigin: null, scannedAt: 'x' } });
  assert.equal(releaseCovers(tooLarge, scanned, { status: 'too-large', size: 9, maxBytes: 1 }), true);
});

/** An object store holding only the given JSON documents. */
function store(documents: Record<string, unknown>): ObjectStore {
  const at = (bucket: string, key: string) => documents[`${bucket}/${key}`];
  return {
    headMetadata: async (bucket, key) => (at(bucket, key) === undefined ? undefined : {}),
    getJson: async (bucket, key) => at(bucket, key),
  } as Partial<ObjectStore> as ObjectStore;
}

test('the worker honours a release by its tag and its record; a forged tag, a missing record, or another verdict do not', async () => {
  const tags = [{ Key: RELEASED_TAG, Value: ID }];
  const recordAt = `quarantine/q/a/invoice.pdf.release-${ID}.json`;
  const infected = { status: 'infected', signature: 'Custom.Acme-1.UNOFFICIAL' } as const;
  assert.equal(await coveringRelease(store({ [recordAt]: record() }), quarantine, scanned, tags, infected), ID);
  assert.equal(await coveringRelease(store({}), quarantine, scanned, tags, infected), undefined, 'no record: a forged tag');
  assert.equal(await coveringRelease(store({ [recordAt]: record() }), quarantine, scanned, [], infected), undefined);
  assert.equal(
    await coveringRelease(store({ [recordAt]: record() }), quarantine, scanned, [{ Key: RELEASED_TAG, Value: '../x' }], infected),
    undefined,
  );
  assert.equal(await coveringRelease(store({ [recordAt]: { nonsense: true } }), quarantine, scanned, tags, infected), undefined);
  assert.equal(
    await coveringRelease(store({ [recordAt]: record() }), quarantine, scanned, tags, { status: 'infected', signature: 'Other' }),
    undefined,
  );
  await assert.rejects(
    coveringRelease(store({ [recordAt]: record({ state: 'started' }) }), quarantine, scanned, tags, infected),
    ReleaseInProgress,
    'a release still running is waited for (the message is retried), not overruled',
  );
});

test('quarantine list --since: ages and ISO dates', () => {
  const now = new Date('2026-06-08T12:00:00Z');
  assert.equal(parseSince('7d', now)?.toISOString(), '2026-06-01T12:00:00.000Z');
  assert.equal(parseSince('90m', now)?.toISOString(), '2026-06-08T10:30:00.000Z');
  assert.equal(parseSince('2026-06-01', now)?.toISOString(), '2026-06-01T00:00:00.000Z');
  assert.equal(parseSince('2026-06-01T10:00:00Z', now)?.toISOString(), '2026-06-01T10:00:00.000Z');
  assert.equal(parseSince('yesterday', now), undefined);
  assert.equal(parseSince('2026-13-40', now), undefined);
});
