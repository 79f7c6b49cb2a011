// `bucketscan rescan` as a separate process against the emulator over HTTP, for
// what issue 14 added: the target queue (--queue, RESCAN_QUEUE), S3 Inventory
// reports (--inventory: a generated manifest with gzip'd CSV and Parquet data
// files), the sources file (each key judged by its source's rules), --dry-run's
// estimate, and the one-line refusals of bad input.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, PurgeQueueCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord, type RecordRules } from '../../src/events/record.ts';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { endpointEnv, oneLine, runCli, startCli } from '../support/cli.ts';
import { putInventory, type InventoryEntry } from '../support/inventory.ts';
import { drainQueue } from '../support/queue.ts';
import { RESOURCES } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let emulator: Emulator;
let s3: S3Client;
let sqs: SQSClient;
let env: Record<string, string>;
let laneUrl: string;
const LANE = 'bucketscan-rescan';
const SOURCES_BUCKET = 'many-sources';

before(async () => {
  emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
  const connection = { region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  for (const bucket of ['inventory', SOURCES_BUCKET]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  laneUrl = (await sqs.send(new CreateQueueCommand({ QueueName: LANE }))).QueueUrl!;
  await sqs.send(new CreateQueueCommand({ QueueName: 'lane.fifo', Attributes: { FifoQueue: 'true' } })).catch(() => undefined);
  env = endpointEnv(emulator.endpoint, { RESCAN_QUEUE: LANE });
});

after(async () => {
  s3?.destroy();
  sqs?.destroy();
  await emulator?.stop();
});

beforeEach(async () => {
  await sqs.send(new PurgeQueueCommand({ QueueUrl: emulator.queueUrls.inbound }));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: laneUrl }));
});

const drain = (url: string): Promise<Message[]> => drainQueue(sqs, url);

/** The targets of the queued messages, checked by the worker's own parser and checker. */
function targets(messages: Message[], rules: RecordRules) {
  return messages
    .map((message) => {
      assert.equal(message.MessageAttributes?.['bucketscan-origin']?.StringValue, 'rescan');
      const parsed = parseMessageBody(message.Body);
      if (parsed.kind !== 'records') throw new Error(`not records: ${message.Body}`);
      const check = checkRecord(parsed.records[0], rules);
      if (!check.ok) throw new Error(check.reason);
      return check.target;
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

const GUID = () => randomUUID();

describe('the target queue', () => {
  test('RESCAN_QUEUE takes the events; --queue wins over it; the inbound queue gets none', async () => {
    const guid = GUID();
    await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: `${guid}/a.txt`, Body: 'a' }));
    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^queued 1 event for s3://unprocessed/${guid}/ \\(1 listed, 0 skipped\\) in .* on ${LANE}\\n$`));
    assert.equal(targets(await drain(laneUrl), { bucket: 'unprocessed', prefix: '' })[0]!.key, `${guid}/a.txt`);
    assert.deepEqual(await drain(emulator.queueUrls.inbound), []);

    const explicit = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--queue', 'virus-scanning'], env);
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal((await drain(emulator.queueUrls.inbound)).length, 1);
    assert.deepEqual(await drain(laneUrl), []);
  });

  const refusals: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      'a --queue that is no queue name',
      ['--queue', 'not a queue'],
      {},
      /--queue "not a queue" is neither an SQS queue name nor an http\(s\) queue URL/,
    ],
    ['a FIFO --queue', ['--queue', 'lane.fifo'], {}, /--queue: "lane\.fifo" is a FIFO queue/],
    [
      'a RESCAN_QUEUE that does not exist',
      [],
      { RESCAN_QUEUE: 'no-such-lane' },
      /the queue "no-such-lane" does not exist \(RESCAN_QUEUE\)$/,
    ],
    ['a bad RESCAN_QUEUE', [], { RESCAN_QUEUE: 'bad name!' }, /^bucketscan: configuration error: RESCAN_QUEUE: must be an SQS queue name/],
  ];
  for (const [what, extraArgs, extraEnv, message] of refusals) {
    test(`refuses ${what}: one line, exit 2`, async () => {
      const result = await runCli(['rescan', 's3://unprocessed/', ...extraArgs], { ...env, ...extraEnv });
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
    });
  }
});

describe('--inventory', () => {
  const rules = { bucket: 'unprocessed', prefix: '' };
  const g1 = '11111111-1111-4111-8111-111111111111';
  const g2 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
  // Keys with spaces, plus signs, percent signs and non-ASCII characters, in two data files.
  const current: InventoryEntry[] = [
    { key: `${g1}/a report (final).pdf`, size: 1000, eTag: '0123456789abcdef0123456789abcdef', versionId: 'v-a' },
    { key: `${g1}/c++ notes+1.txt`, size: 2000, eTag: 'fedcba9876543210fedcba9876543210-2', versionId: 'v-c' },
    { key: `${g2}/résumé 100%.docx`, size: 3000, eTag: '00000000000000000000000000000000', versionId: 'v-r' },
    { key: `${g2}/日本語.txt`, size: 4000, eTag: '11111111111111111111111111111111', versionId: 'null' },
  ];
  const report: InventoryEntry[][] = [
    [
      current[0]!,
      { key: `${g1}/a report (final).pdf`, size: 10, eTag: 'old', versionId: 'v-old', isLatest: false },
      current[1]!,
      { key: `${g1}/deleted.txt`, size: 0, versionId: 'dm', isDeleteMarker: true },
      { key: 'loose.txt', size: 5, eTag: '22222222222222222222222222222222', versionId: 'v-l' },
    ],
    [current[2]!, current[3]!, { key: `${g2}/x.txt`, size: 6, eTag: '33333333333333333333333333333333', bucket: 'somebody-else' }],
  ];

  test('queues the current version of each row the worker accepts, decoded, with size, eTag and versionId; the rest counted', async () => {
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `csv-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'CSV',
      versions: true,
      files: report,
    });
    const result = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.equal(summary['queue'], LANE);
    assert.equal(summary['inventory'], `s3://inventory/${manifest}`);
    assert.deepEqual([summary['listed'], summary['queued'], summary['skipped']], [6, 4, 2]);
    assert.equal(summary['bytes'], 10_000);
    assert.deepEqual(summary['skippedByReason'], {
      'object key has no "<submission_guid>/" folder': 1,
      'inventory row names bucket "somebody-else", not the report\'s unprocessed': 1,
    });
    const queued = targets(await drain(laneUrl), rules);
    assert.deepEqual(
      queued.map((t) => [t.key, t.size, t.eTag, t.versionId, t.eventName]),
      [
        [current[0]!.key, 1000, current[0]!.eTag, 'v-a', 'ObjectCreated:Put'],
        [current[1]!.key, 2000, current[1]!.eTag, 'v-c', 'ObjectCreated:CompleteMultipartUpload'],
        [current[2]!.key, 3000, current[2]!.eTag, 'v-r', 'ObjectCreated:Put'],
        [current[3]!.key, 4000, current[3]!.eTag, undefined, 'ObjectCreated:Put'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  test('a Parquet report (Snappy, several row groups) gives the same events', async () => {
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `parquet-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'Parquet',
      versions: true,
      files: report,
      rowGroupSize: 2,
    });
    const result = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual([summary['listed'], summary['queued'], summary['skipped']], [6, 4, 2]);
    assert.deepEqual(
      targets(await drain(laneUrl), rules).map((t) => [t.key, t.versionId]),
      current
        .map((c) => [c.key, c.versionId === 'null' ? undefined : c.versionId])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  test('a URL beside it keeps only keys under its prefix; --since uses LastModifiedDate', async () => {
    const rows: InventoryEntry[] = [
      { key: `${g1}/old.txt`, size: 1, eTag: '44444444444444444444444444444444', lastModified: new Date('2026-01-01T00:00:00Z') },
      { key: `${g1}/new.txt`, size: 2, eTag: '55555555555555555555555555555555', lastModified: new Date('2026-11-01T00:00:00Z') },
      { key: `${g2}/other.txt`, size: 3, eTag: '66666666666666666666666666666666', lastModified: new Date('2026-11-01T00:00:00Z') },
    ];
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `since-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'CSV',
      versions: false,
      files: [rows],
    });
    const result = await runCli(
      ['rescan', `s3://unprocessed/${g1}/`, '--inventory', `s3://inventory/${manifest}`, '--since', '2026-06-01', '--json'],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual([summary['listed'], summary['queued'], summary['older']], [2, 1, 1]);
    assert.deepEqual(
      targets(await drain(laneUrl), rules).map((t) => t.key),
      [`${g1}/new.txt`],
    );
  });

  test('--dry-run prints the objects, bytes, expected duration and request cost, and queues nothing', async () => {
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `dry-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'CSV',
      versions: true,
      files: report,
    });
    const result = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--dry-run', '--fleet', '2'], env);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^would queue 4 events for s3:\/\/unprocessed\/ \(6 listed, 2 skipped\) in .* on bucketscan-rescan$/);
    assert.equal(lines[1], '  objects: 4, 9.8 KiB');
    // 4 files at 50 files/s on 2 workers: 0.04 s.
    assert.match(
      lines[2]!,
      /^ {2}expected duration: 0\.0s at 2 workers \(fleet: --fleet; 50 files\/s or 20 MiB\/s a worker, live uploads first\)$/,
    );
    assert.match(lines[3]!, /^ {2}request cost: <\$0\.01 for clean files \(us-east-1 list prices/);
    assert.equal(lines[4], '    rescan: 3 GET (inventory report) <$0.01, 1 SendMessageBatch <$0.01');
    assert.equal(lines[5], '    workers: 4 GetObject <$0.01, 4 PutObjectTagging <$0.01, 4 SQS (receive, delete, forward) <$0.01');
    assert.equal(lines[6], '  status tags kept: <$0.01 a month');
    assert.equal(lines[7], '  queue: "bucketscan-rescan"');
    assert.deepEqual(await drain(laneUrl), []);

    // The fleet read from the queues: none in flight, one worker assumed; the inbound queue named as shared.
    const json = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--dry-run', '--json'], { ...env, RESCAN_QUEUE: '' });
    assert.equal(json.code, 0, json.stderr);
    const estimate = (JSON.parse(json.stdout) as Record<string, any>)['estimate'] as Record<string, any>;
    assert.equal(estimate['objects'], 4);
    assert.equal(estimate['bytes'], 10_000);
    assert.equal(estimate['workers'], 1);
    assert.match(estimate['fleetBasis'], /no messages in flight/);
    assert.deepEqual(
      (estimate['requests'] as Array<Record<string, unknown>>).map((r) => [r['by'], r['request'], r['count']]),
      [
        ['rescan', 'GET (inventory report)', 3],
        ['rescan', 'SendMessageBatch', 1],
        ['workers', 'GetObject', 4],
        ['workers', 'PutObjectTagging', 4],
        ['workers', 'SQS (receive, delete, forward)', 4],
      ],
    );
  });

  test('interrupted, it prints --start-after-row; resuming queues the rest, each row once', async () => {
    const rows: InventoryEntry[] = [];
    for (let i = 0; i < 12; i++)
      rows.push({ key: `${g1}/${String(i).padStart(2, '0')}.txt`, size: i, eTag: '77777777777777777777777777777777' });
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `resume-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'CSV',
      versions: false,
      files: [rows.slice(0, 5), rows.slice(5)],
    });
    const running = startCli(['rescan', '--inventory', `s3://inventory/${manifest}`, '--rate', '2'], env);
    await waitFor('the first events on the lane', () => {
      const queue = emulator.server.inspectQueue(LANE)!;
      return queue.messages.ready.length > 0 ? true : undefined;
    });
    running.child.kill('SIGINT');
    const first = await running.done;
    assert.equal(first.code, 130, first.stderr);
    const resume = /^ {2}bucketscan (rescan .*)$/m.exec(first.stderr)?.[1];
    assert.ok(resume, first.stderr);
    assert.match(
      resume,
      new RegExp(`^rescan --inventory s3://inventory/${manifest.replace(/[.]/g, '\\.')} --rate 2 --start-after-row \\d+$`),
    );
    const firstKeys = targets(await drain(laneUrl), rules).map((t) => t.key);
    assert.ok(firstKeys.length > 0 && firstKeys.length < rows.length, `first run queued ${firstKeys.length}`);
    const second = await runCli(resume.replace(' --rate 2', '').split(' '), env);
    assert.equal(second.code, 0, second.stderr);
    const secondKeys = targets(await drain(laneUrl), rules).map((t) => t.key);
    assert.deepEqual([...firstKeys, ...secondKeys].sort(), rows.map((r) => r.key).sort(), 'every row once, none twice');
  });

  test('a data file that does not match its MD5 stops the run: exit 1 and the resume command', async () => {
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `md5-${GUID()}/`,
      sourceBucket: 'unprocessed',
      format: 'CSV',
      versions: true,
      files: report,
      badMd5For: 0,
    });
    const result = await runCli(['rescan', '--inventory', `s3://inventory/${manifest}`], env);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /does not match its MD5 in the manifest/);
    assert.match(result.stderr, /to resume:\n {2}bucketscan rescan --inventory /);
  });

  const badManifests: Array<[string, (prefix: string) => Promise<string>, string[], RegExp]> = [
    [
      'no manifest there',
      async () => 'missing/manifest.json',
      [],
      /--inventory: no manifest at s3:\/\/inventory\/missing\/manifest\.json$/,
    ],
    [
      'not JSON',
      async (prefix) => {
        await s3.send(new PutObjectCommand({ Bucket: 'inventory', Key: `${prefix}manifest.json`, Body: 'hello' }));
        return `${prefix}manifest.json`;
      },
      [],
      /is not an inventory manifest: not valid JSON/,
    ],
    [
      'no files list',
      async (prefix) => {
        const body = JSON.stringify({ sourceBucket: 'unprocessed', fileFormat: 'CSV', fileSchema: 'Bucket, Key, Size' });
        await s3.send(new PutObjectCommand({ Bucket: 'inventory', Key: `${prefix}manifest.json`, Body: body }));
        return `${prefix}manifest.json`;
      },
      [],
      /is not an inventory manifest: files: is required$/,
    ],
    [
      'an ORC report',
      (prefix) =>
        putInventory(s3, { bucket: 'inventory', prefix, sourceBucket: 'unprocessed', format: 'ORC', versions: false, files: [[]] }),
      [],
      /is an ORC report, which rescan does not read: configure the inventory as CSV or Parquet$/,
    ],
    [
      'a report of a bucket no source scans',
      (prefix) =>
        putInventory(s3, { bucket: 'inventory', prefix, sourceBucket: 'somewhere-else', format: 'CSV', versions: false, files: [[]] }),
      [],
      /bucket "somewhere-else" is not the unprocessed bucket "unprocessed" \(UNPROCESSED_BUCKET_NAME\)/,
    ],
    [
      'a URL for another bucket',
      (prefix) =>
        putInventory(s3, { bucket: 'inventory', prefix, sourceBucket: 'unprocessed', format: 'CSV', versions: false, files: [[]] }),
      ['s3://quarantine-other/'],
      /the inventory report lists bucket "unprocessed", not "quarantine-other"$/,
    ],
    [
      '--since without LastModifiedDate',
      (prefix) =>
        putInventory(s3, {
          bucket: 'inventory',
          prefix,
          sourceBucket: 'unprocessed',
          format: 'CSV',
          versions: false,
          withoutLastModified: true,
          files: [[]],
        }),
      ['--since', '7d'],
      /--since needs the report's LastModifiedDate column/,
    ],
  ];
  for (const [what, make, extra, message] of badManifests) {
    test(`refuses ${what}: one line, exit 2`, async () => {
      const key = await make(`bad-${GUID()}/`);
      const result = await runCli(['rescan', '--inventory', `s3://inventory/${key}`, ...extra], env);
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
    });
  }

  const badArguments: Array<[string, string[], RegExp]> = [
    [
      '--start-after with --inventory',
      ['--inventory', 's3://inventory/m.json', '--start-after', 'k'],
      /--start-after resumes a listing; .* use --start-after-row$/,
    ],
    [
      '--start-after-row without --inventory',
      ['s3://unprocessed/', '--start-after-row', '3'],
      /--start-after-row resumes an inventory report: it needs --inventory$/,
    ],
    ['a bad --start-after-row', ['--inventory', 's3://inventory/m.json', '--start-after-row', '-1'], /--start-after-row needs a value/],
    ['an --inventory folder', ['--inventory', 's3://inventory/reports/'], /--inventory names a folder: name its manifest\.json$/],
    ['an --inventory that is no S3 URL', ['--inventory', 'manifest.json'], /--inventory: an S3 URL starts with s3:\/\//],
    ['a bad --fleet', ['s3://unprocessed/', '--dry-run', '--fleet', '0'], /--fleet must be a whole number from 1 to 10,000, got "0"$/],
    ['neither URL nor --inventory', [], /name what to rescan: s3:\/\/bucket or s3:\/\/bucket\/prefix \(or --inventory/],
  ];
  for (const [what, args, message] of badArguments) {
    test(`refuses ${what}: one line, exit 2`, async () => {
      const result = await runCli(['rescan', ...args], env);
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
    });
  }
});

describe('with SOURCES_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-sources-'));
  const sourcesFile = join(dir, 'sources.json');
  writeFileSync(
    sourcesFile,
    JSON.stringify({
      sources: [
        { bucket: SOURCES_BUCKET, prefix: 'submissions/', quarantineBucket: 'quarantine', quarantinePrefix: 'many/submissions/' },
        { bucket: SOURCES_BUCKET, prefix: 'anything/', keyLayout: 'any', quarantineBucket: SOURCES_BUCKET, quarantinePrefix: 'held/' },
        { bucket: 'unprocessed', quarantineBucket: 'quarantine', quarantinePrefix: '', statusTag: false },
      ],
    }),
  );
  const sourcesEnv = () => ({ ...env, SOURCES_FILE: sourcesFile, UNPROCESSED_BUCKET_NAME: 'ignored-when-a-file-is-given' });
  const put = (key: string) => s3.send(new PutObjectCommand({ Bucket: SOURCES_BUCKET, Key: key, Body: key }));

  test("a listing uses its source's key rules: keyLayout any takes every key, submission only <guid>/<file>", async () => {
    const run = GUID();
    await put(`anything/${run}/deep/er/file.bin`);
    await put(`anything/${run}/loose.txt`);
    await put(`submissions/${run}/ok.txt`);
    await put(`submissions/${run}-loose.txt`);
    const any = await runCli(['rescan', `s3://${SOURCES_BUCKET}/anything/${run}/`, '--json'], sourcesEnv());
    assert.equal(any.code, 0, any.stderr);
    assert.deepEqual(
      targets(await drain(laneUrl), { bucket: SOURCES_BUCKET, prefix: 'anything/', keyLayout: 'any' }).map((t) => t.key),
      [`anything/${run}/deep/er/file.bin`, `anything/${run}/loose.txt`],
    );
    const submissions = await runCli(['rescan', `s3://${SOURCES_BUCKET}/submissions/`, '--json'], sourcesEnv());
    assert.equal(submissions.code, 0, submissions.stderr);
    const summary = JSON.parse(submissions.stdout) as Record<string, any>;
    assert.equal(summary['skippedByReason']['object key has no "<submission_guid>/" folder'], 1);
    assert.ok(
      targets(await drain(laneUrl), { bucket: SOURCES_BUCKET, prefix: 'submissions/' }).some((t) => t.key === `submissions/${run}/ok.txt`),
    );
  });

  test('an inventory of the bucket judges each row by its source; quarantine areas and keys outside every source are skipped', async () => {
    const guid = GUID();
    const manifest = await putInventory(s3, {
      bucket: 'inventory',
      prefix: `sources-${GUID()}/`,
      sourceBucket: SOURCES_BUCKET,
      format: 'CSV',
      versions: false,
      files: [
        [
          { key: `submissions/${guid}/a.txt`, size: 1, eTag: '88888888888888888888888888888888' },
          { key: 'submissions/loose.txt', size: 1, eTag: '88888888888888888888888888888888' },
          { key: 'anything/x y/z.txt', size: 2, eTag: '99999999999999999999999999999999' },
          { key: 'held/anything/x.txt', size: 3, eTag: '99999999999999999999999999999999' },
          { key: 'elsewhere/b.txt', size: 4, eTag: '99999999999999999999999999999999' },
        ],
      ],
    });
    const result = await runCli(
      ['rescan', '--inventory', `s3://inventory/${manifest}`, '--json', '--dry-run', '--fleet', '1'],
      sourcesEnv(),
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual([summary['listed'], summary['queued'], summary['skipped']], [5, 2, 3]);
    assert.deepEqual(summary['skippedByReason'], {
      'object key has no "<submission_guid>/" folder': 1,
      'object is in a quarantine area: never rescanned': 1,
      'object key is outside every scanned prefix of its bucket ("submissions/", "anything/")': 1,
    });
    // Both sources write the status tag (SCAN_STATUS_TAG's default).
    const requests = summary['estimate']['requests'] as Array<Record<string, unknown>>;
    assert.equal(requests.find((r) => r['request'] === 'PutObjectTagging')?.['count'], 2);
  });

  test('a source with statusTag false is priced without tags', async () => {
    const guid = GUID();
    await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: `${guid}/a.txt`, Body: 'a' }));
    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--dry-run', '--json'], sourcesEnv());
    assert.equal(result.code, 0, result.stderr);
    const requests = (JSON.parse(result.stdout) as Record<string, any>)['estimate']['requests'] as Array<Record<string, unknown>>;
    assert.equal(
      requests.some((r) => r['request'] === 'PutObjectTagging'),
      false,
    );
  });

  const refusals: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      'a URL spanning two sources',
      ['rescan', `s3://${SOURCES_BUCKET}/`],
      {},
      /^bucketscan: rescan: s3:\/\/many-sources\/ spans 2 sources \(sources\[0\] \(bucket "many-sources"\), sources\[1\] \(bucket "many-sources"\)\): rescan each on its own, e\.g\. s3:\/\/many-sources\/submissions\/$/,
    ],
    ['a bucket in no source', ['rescan', 's3://elsewhere/'], {}, /bucket "elsewhere" is in no source of SOURCES_FILE \(.*sources\.json\)/],
    [
      'a quarantine area',
      ['rescan', `s3://${SOURCES_BUCKET}/held/x/`],
      {},
      /is the quarantine area of sources\[1\] \(bucket "many-sources"\): it is never rescanned$/,
    ],
    [
      'a bad sources file',
      ['rescan', 's3://unprocessed/'],
      { SOURCES_FILE: join(dir, 'missing.json') },
      /^bucketscan: configuration error: SOURCES_FILE: cannot read ".*missing\.json" \(ENOENT\)$/,
    ],
  ];
  for (const [what, args, extra, message] of refusals) {
    test(`refuses ${what}: one line, exit 2`, async () => {
      const result = await runCli(args, { ...sourcesEnv(), ...extra });
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
    });
  }
});
