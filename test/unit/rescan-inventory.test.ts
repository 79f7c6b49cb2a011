// The pure parts of rescan's inventory reading and estimates: the manifest and
// its refusals, one report row as an object (key decoding, versions, delete
// markers), the duration and cost model, and the ETA's share of a listing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InventoryError, parseManifest, rowObject } from '../../src/aws/inventory.ts';
import { estimateCost, estimateDuration, fleetFromInFlight, formatUsd, keyspaceFraction, remainingMs } from '../../src/rescan/estimate.ts';
import { formatBytes } from '../../src/shared/format.ts';

const at = { bucket: 'inventory', key: 'unprocessed/daily/2026-12-05T01-00Z/manifest.json' };
const manifest = (fields: Record<string, unknown>) =>
  JSON.stringify({
    sourceBucket: 'unprocessed',
    destinationBucket: 'arn:aws:s3:::inventory',
    version: '2016-11-30',
    creationTimestamp: '1764896400000',
    fileFormat: 'CSV',
    fileSchema: 'Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass',
    files: [{ key: 'unprocessed/daily/data/a.csv.gz', size: 1234, MD5checksum: '0123456789ABCDEF0123456789abcdef' }],
    ...fields,
  });

describe('parseManifest', () => {
  test('reads the source bucket, the columns in order and the data files', () => {
    const parsed = parseManifest(manifest({}), at);
    assert.equal(parsed.sourceBucket, 'unprocessed');
    assert.equal(parsed.format, 'CSV');
    assert.deepEqual(parsed.columns.slice(0, 6), ['Bucket', 'Key', 'VersionId', 'IsLatest', 'IsDeleteMarker', 'Size']);
    assert.deepEqual(parsed.files, [{ key: 'unprocessed/daily/data/a.csv.gz', size: 1234, md5: '0123456789abcdef0123456789abcdef' }]);
    assert.equal(parsed.createdAt.toISOString(), '2025-12-05T01:00:00.000Z');
    assert.equal(parsed.bucket, 'inventory', 'data files are read from the bucket that holds the manifest');
  });

  test("Parquet: the columns come from the schema's field names", () => {
    const parsed = parseManifest(
      manifest({
        fileFormat: 'Parquet',
        fileSchema:
          'message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); }',
      }),
      at,
    );
    assert.equal(parsed.format, 'Parquet');
    assert.deepEqual(parsed.columns, ['Bucket', 'Key', 'Size', 'LastModifiedDate', 'ETag']);
  });

  const refusals: Array<[string, string, RegExp]> = [
    ['not JSON', '{', /not an inventory manifest: not valid JSON/],
    ['no sourceBucket', manifest({ sourceBucket: undefined }), /sourceBucket: is required/],
    ['a source bucket that cannot exist', manifest({ sourceBucket: 'Bad_Bucket' }), /sourceBucket "Bad_Bucket": bucket names hold only/],
    ['no files', manifest({ files: [] }), /files: lists no data files/],
    ['a file without its MD5', manifest({ files: [{ key: 'a', size: 1 }] }), /files\.0\.MD5checksum: is required/],
    ['a negative size', manifest({ files: [{ key: 'a', size: -1, MD5checksum: '0'.repeat(32) }] }), /files\.0\.size/],
    ['ORC', manifest({ fileFormat: 'ORC' }), /is an ORC report, which rescan does not read/],
    ['an unknown format', manifest({ fileFormat: 'XLSX' }), /fileFormat "XLSX" is not CSV, ORC or Parquet/],
    ['no Key column', manifest({ fileSchema: 'Bucket, Size' }), /the report has no Key column/],
    [
      'no size field (Parquet)',
      manifest({
        fileFormat: 'Parquet',
        fileSchema: 'message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); }',
      }),
      /no Size column/,
    ],
  ];
  for (const [what, text, message] of refusals) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => parseManifest(text, at),
        (error: unknown) => error instanceof InventoryError && message.test(error.message) && !error.message.includes('\n'),
      );
    });
  }
});

describe('rowObject (one report row)', () => {
  const row = (fields: Record<string, unknown>) => ({
    Bucket: 'unprocessed',
    Key: 'k',
    Size: '12',
    LastModifiedDate: '2026-11-30T10:00:00.000Z',
    ETag: 'abc',
    ...fields,
  });

  test("CSV keys are URL-decoded as S3 writes them: '+' is a space, %2B a plus, UTF-8 percent-encoded", () => {
    const cases: Array<[string, string]> = [
      ['a+report+%28final%29.pdf', 'a report (final).pdf'],
      ['c%2B%2B+notes%2B1.txt', 'c++ notes+1.txt'],
      ['r%C3%A9sum%C3%A9+100%25.docx', 'résumé 100%.docx'],
      ['%E6%97%A5%E6%9C%AC%E8%AA%9E.txt', '日本語.txt'],
      ['folder%2Fkey', 'folder/key'],
      ['folder/key', 'folder/key'],
    ];
    for (const [encoded, key] of cases) assert.equal(rowObject(row({ Key: encoded }), 'unprocessed', '1', true)?.key, key, encoded);
    // Parquet keys are the key itself.
    assert.equal(rowObject(row({ Key: 'a+b%2B' }), 'unprocessed', '1', false)?.key, 'a+b%2B');
  });

  test('an object with its size, eTag, version, time and row position', () => {
    assert.deepEqual(rowObject(row({ VersionId: 'v1', IsLatest: 'true', IsDeleteMarker: 'false' }), 'unprocessed', '7', true), {
      key: 'k',
      size: 12,
      eTag: 'abc',
      versionId: 'v1',
      lastModified: new Date('2026-11-30T10:00:00.000Z'),
      position: '7',
    });
    // Parquet's typed values.
    const typed = rowObject(row({ Size: 12n, LastModifiedDate: new Date(0), IsLatest: true }), 'unprocessed', '1', false);
    assert.equal(typed?.size, 12);
    assert.equal(typed?.lastModified.getTime(), 0);
  });

  test('older versions and delete markers name no current object', () => {
    assert.equal(rowObject(row({ IsLatest: 'false' }), 'unprocessed', '1', true), undefined);
    assert.equal(rowObject(row({ IsLatest: false }), 'unprocessed', '1', false), undefined);
    assert.equal(rowObject(row({ IsDeleteMarker: 'true', Size: '' }), 'unprocessed', '1', true), undefined);
  });

  test('a row that cannot be used carries its problem, to be skipped and counted', () => {
    assert.match(rowObject(row({ Key: '%E6' }), 'unprocessed', '1', true)?.problem ?? '', /not valid percent-encoded UTF-8/);
    assert.match(rowObject(row({ Key: '' }), 'unprocessed', '1', true)?.problem ?? '', /no key/);
    assert.match(
      rowObject(row({ Bucket: 'other' }), 'unprocessed', '1', true)?.problem ?? '',
      /names bucket "other", not the report's unprocessed/,
    );
    assert.match(rowObject(row({ Size: 'x' }), 'unprocessed', '1', true)?.problem ?? '', /no size/);
    assert.match(rowObject(row({ Size: '' }), 'unprocessed', '1', true)?.problem ?? '', /no size/);
  });
});

describe('estimates', () => {
  const MiB = 1024 * 1024;
  test("duration: docs/deploy.md's cost table, one worker", () => {
    const hours = (objects: number, size: number) => estimateDuration(objects, objects * size, 1, undefined).seconds / 3600;
    assert.equal(hours(1e6, 10 * 1024).toFixed(1), '5.6');
    assert.equal(hours(1e6, MiB).toFixed(1), '13.9');
    assert.equal(hours(1e6, 10 * MiB).toFixed(0), '139');
  });

  test('duration: divided among workers, and never shorter than --rate allows', () => {
    assert.equal(estimateDuration(1000, 0, 4, undefined).seconds, 5);
    assert.deepEqual(estimateDuration(1000, 0, 4, 10), { seconds: 100, bound: 'rate' });
    assert.deepEqual(estimateDuration(1000, 0, 4, 1000), { seconds: 5, bound: 'fleet' });
  });

  test('the fleet from the messages it holds', () => {
    assert.equal(fleetFromInFlight(0, 16).workers, 1);
    assert.match(fleetFromInFlight(0, 16).basis, /idle or scaled to zero/);
    assert.equal(fleetFromInFlight(16, 16).workers, 1);
    assert.equal(fleetFromInFlight(41, 16).workers, 3);
    assert.match(fleetFromInFlight(41, 16).basis, /^41 messages in flight ÷ 16 per worker/);
  });

  test('cost of a million clean files: rescan, then the workers', () => {
    const cost = estimateCost({ objects: 1e6, tagged: 1e6, listRequests: 1000, inventoryGets: 0 });
    const byWhat = Object.fromEntries(cost.lines.map((line) => [line.what, [line.requests, Number(line.usd.toFixed(4))]]));
    assert.deepEqual(byWhat, {
      LIST: [1000, 0.005],
      SendMessageBatch: [100_000, 0.04],
      GetObject: [1e6, 0.4],
      PutObjectTagging: [1e6, 5],
      'SQS (receive, delete, forward)': [1e6, 0.4],
    });
    assert.equal(cost.totalUsd.toFixed(3), '5.845');
    assert.equal(cost.tagsPerMonthUsd, 1);
    const untagged = estimateCost({ objects: 1e6, tagged: 0, listRequests: 0, inventoryGets: 3 });
    assert.equal(
      untagged.lines.some((line) => line.what === 'PutObjectTagging'),
      false,
    );
    assert.equal(untagged.tagsPerMonthUsd, 0);
  });

  test('money and bytes as people read them', () => {
    assert.equal(formatUsd(0), '$0');
    assert.equal(formatUsd(0.004), '<$0.01');
    assert.equal(formatUsd(5.845), '$5.85');
    assert.equal(formatUsd(1234.5), '$1,234.50');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10_000), '9.8 KiB');
    assert.equal(formatBytes(13_207_024_435), '12 GiB');
  });
});

describe('progress share and ETA', () => {
  test('a submission key sits in the key space by its GUID', () => {
    assert.equal(keyspaceFraction('00000000-0000-4000-8000-000000000000/a', ''), 0);
    assert.equal(keyspaceFraction('80000000-0000-4000-8000-000000000000/a', ''), 0.5);
    assert.equal(keyspaceFraction('in/c0000000-0000-4000-8000-000000000000/a', 'in/'), 0.75);
    assert.equal(keyspaceFraction('in/xyz/a', 'in/'), undefined);
    assert.equal(keyspaceFraction('other/c0', 'in/'), undefined);
  });

  test('time left from the share done since the start', () => {
    assert.equal(remainingMs(0, undefined, 10_000), undefined);
    assert.equal(remainingMs(0, 0.5, 1_000), undefined, 'too early to say');
    assert.equal(remainingMs(0, 0.25, 10_000), 30_000);
    assert.equal(remainingMs(0.5, 0.75, 10_000), 10_000, 'a resumed run counts from where it started');
    assert.equal(remainingMs(0, 1, 10_000), 0);
  });
});
