// Many sources through one pipeline, with the I/O as plain functions: each
// record goes by its own source's rules (key layout, quarantine, validation
// queue, topic, status tag), the report and the result event name the source,
// an event for a bucket no source names touches nothing, and every verdict
// becomes one GuardDuty-shaped result event whose failure keeps the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import type { Tag } from '@aws-sdk/client-s3';
import { createLogger } from '../../src/log/logger.ts';
import { buildEventDocument, buildObjectCreatedRecord, encodeEventKey } from '../../src/events/s3-event.ts';
import type { ObjectVersion } from '../../src/aws/objects.ts';
import type { OutgoingMessage, QueueRef } from '../../src/aws/queue.ts';
import type { ResultEvent } from '../../src/aws/result-bus.ts';
import type { Notification } from '../../src/aws/topic.ts';
import type { Source } from '../../src/pipeline/deps.ts';
import { processMessage } from '../../src/pipeline/process-message.ts';
import type { OutcomeEvent } from '../../src/pipeline/outcome.ts';
import type { ScanVerdict } from '../../src/scan/reply.ts';
import type { StatusTagStyle } from '../../src/verdict/verdict.ts';
import { emptyObject, pipelineDeps, pipelineSettings, testSource } from '../support/pipeline.ts';

const GUID = '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34';
const ENGINE = {
  clamav: '1.4.6',
  databaseVersion: 27431,
  databaseDate: '2026-11-20T09:00:00',
  raw: 'ClamAV 1.4.6/27431/Fri Nov 20 09:00:00 2026',
};

const SOURCES: Source[] = [
  testSource({
    label: 'sources[0] (bucket "uploads")',
    bucket: 'uploads',
    prefix: 'in/',
    quarantine: { bucket: 'quarantine', prefix: 'uploads/' },
    validationQueue: { name: 'validation-a' },
    statusTag: 'bucketscan-status',
  }),
  testSource({
    label: 'sources[1] (bucket "imports")',
    bucket: 'imports',
    keyLayout: 'any',
    quarantine: { bucket: 'quarantine', prefix: 'imports/' },
    validationQueue: { url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/validation-b' },
    notificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:imports-reports',
    statusTag: undefined,
  }),
  testSource({
    label: 'sources[2] (bucket "archive")',
    bucket: 'archive',
    keyLayout: 'any',
    quarantine: { bucket: 'quarantine-archive', prefix: '' },
    validationQueue: undefined,
    statusTag: 'bucketscan-status',
  }),
];

/** What the fake world saw. */
interface World {
  forwarded: Array<{ queue: QueueRef; message: OutgoingMessage }>;
  published: Array<{ topic: string | undefined; notification: Notification }>;
  results: ResultEvent[];
  tags: Array<{ version: ObjectVersion; tags: Tag[] }>;
  copies: Array<{ from: ObjectVersion; to: { bucket: string; key: string } }>;
  reports: Array<{ bucket: string; key: string; document: unknown }>;
  deleted: ObjectVersion[];
  lines: Array<Record<string, unknown>>;
  events: OutcomeEvent[];
}

/** Every object exists with one version and the content named by its key: "eicar" infected, "big" too large, "zip" unscannable, else clean. */
function world(
  options: { style?: StatusTagStyle; failResults?: boolean; sources?: Source[]; unscannableAction?: 'quarantine' | 'forward' } = {},
) {
  const seen: World = { forwarded: [], published: [], results: [], tags: [], copies: [], reports: [], deleted: [], lines: [], events: [] };
  const reports = new Map<string, Record<string, string>>();
  const deps = pipelineDeps({
    objects: {
      open: async (version) => ({
        ...emptyObject({ ...version, versionId: 'v1' }),
        body: Readable.from([Buffer.from(version.key)]),
        size: version.key.includes('big') ? 10 * 1024 * 1024 : version.key.length,
        eTag: 'e1',
      }),
      putTags: async (version, tags) => void seen.tags.push({ version, tags }),
      copy: async (from, to) => void seen.copies.push({ from, to }),
      putJson: async (bucket, key, document, metadata) => {
        seen.reports.push({ bucket, key, document });
        reports.set(`${bucket}/${key}`, metadata ?? {});
      },
      headMetadata: async (bucket, key) => reports.get(`${bucket}/${key}`),
      replaceMetadata: async (bucket, key, metadata) => void reports.set(`${bucket}/${key}`, metadata),
      deleteVersion: async (version) => void seen.deleted.push(version),
    },
    notifier: {
      publish: async (notification, topic) => {
        seen.published.push({ topic, notification });
        return `sns-${seen.published.length}`;
      },
    },
    forwarder: { forward: async (message, queue) => void seen.forwarded.push({ queue, message }) },
    results: {
      publish: async (event) => {
        if (options.failResults) throw new Error('EventBridge is unavailable');
        seen.results.push(event);
      },
    },
    scanner: {
      scan: async (body): Promise<ScanVerdict> => {
        let text = '';
        for await (const chunk of body) text += Buffer.from(chunk as Uint8Array).toString();
        if (text.includes('eicar')) return { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' };
        if (text.includes('zip')) {
          return {
            status: 'unscannable',
            reason: 'encrypted',
            detail: 'encrypted Zip content that clamd cannot open',
            signature: 'Heuristics.Encrypted.Zip',
          };
        }
        return { status: 'clean' };
      },
    },
    engine: async () => ENGINE,
    now: () => new Date('2026-11-21T10:00:05.000Z'),
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) seen.lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const settings = pipelineSettings(
    {},
    {
      sources: options.sources ?? SOURCES,
      maxFileSizeBytes: 1024 * 1024,
      statusTagStyle: options.style ?? 'bucketscan',
      unscannableAction: options.unscannableAction ?? 'quarantine',
    },
  );
  const send = (body: string, origin: 'event' | 'rescan' = 'event') =>
    processMessage(
      { messageId: 'm-1', body, receiveCount: 1, origin },
      { settings, deps, logger: createLogger('debug', 'bucketscan', sink), onOutcome: (event) => seen.events.push(event) },
    );
  return { seen, send };
}

function body(...objects: Array<[bucket: string, key: string]>): string {
  return JSON.stringify(
    buildEventDocument(
      objects.map(([bucket, key]) =>
        buildObjectCreatedRecord({
          bucket,
          key,
          size: 1,
          eTag: 'e1',
          versionId: 'v1',
          eventName: 'ObjectCreated:Put',
          region: 'eu-west-1',
          eventTime: new Date('2026-11-21T10:00:00.000Z'),
          sequencer: '00A1',
        }),
      ),
    ),
  );
}

test('each record goes by its own source: key layout, validation queue, quarantine, topic and tag', async () => {
  const { seen, send } = world();
  const result = await send(
    body(
      ['uploads', `in/${GUID}/clean.txt`],
      ['imports', 'any/deep/path/clean data.csv'],
      ['archive', 'no queue here.txt'],
      ['uploads', `in/${GUID}/eicar.com`],
      ['imports', 'x/eicar.com'],
      ['uploads', 'in/not-a-submission.txt'],
      ['elsewhere', `in/${GUID}/clean.txt`],
    ),
  );
  assert.deepEqual(result, { action: 'delete' });
  // Clean files go to their own source's validation queue; a source without one forwards nothing.
  assert.deepEqual(
    seen.forwarded.map((f) => [f.queue, JSON.parse(f.message.body).Records[0].s3.object.key]),
    [
      [{ name: 'validation-a' }, encodeEventKey(`in/${GUID}/clean.txt`)],
      [{ url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/validation-b' }, encodeEventKey('any/deep/path/clean data.csv')],
    ],
  );
  // Tags: the sources with a tag key tag; "imports" has tagging off.
  assert.deepEqual(
    seen.tags.map((t) => [t.version.bucket, t.version.key, t.tags]),
    [
      ['uploads', `in/${GUID}/clean.txt`, [{ Key: 'bucketscan-status', Value: 'CLEAN' }]],
      ['archive', 'no queue here.txt', [{ Key: 'bucketscan-status', Value: 'CLEAN' }]],
    ],
  );
  // Quarantine: each source's own folder, and its own topic (or the global one).
  assert.deepEqual(
    seen.copies.map((c) => `${c.to.bucket}/${c.to.key}`),
    [`quarantine/uploads/in/${GUID}/eicar.com`, 'quarantine/imports/x/eicar.com'],
  );
  assert.deepEqual(
    seen.published.map((p) => p.topic),
    [undefined, 'arn:aws:sns:eu-west-1:123456789012:imports-reports'],
  );
  // The report names its source; under the `any` layout there is no submission GUID.
  const reports = seen.reports.map((r) => r.document as Record<string, unknown>);
  assert.deepEqual(reports[0]!['source'], { bucket: 'uploads', prefix: 'in/' });
  assert.equal(reports[0]!['submissionGuid'], GUID);
  assert.deepEqual(reports[1]!['source'], { bucket: 'imports', prefix: '' });
  assert.equal(reports[1]!['submissionGuid'], null);
  assert.equal(reports[1]!['filename'], 'eicar.com');
  // The invalid ones: logged with the reason; nothing read, tagged, moved or sent for them.
  const invalid = seen.lines.filter((l) => l['outcome'] === 'invalid');
  assert.deepEqual(
    invalid.map((l) => [l['record'], l['reason']]),
    [
      [5, 'object key has no "<submission_guid>/" folder'],
      [6, 'bucket "elsewhere" is not a scanned bucket (no source names it)'],
    ],
  );
  assert.equal(seen.deleted.length, 2, 'only the two infected versions were removed');
  // Log lines carry the bucket; the no-queue source says its clean file went nowhere.
  const archive = seen.lines.find((l) => l['bucket'] === 'archive');
  assert.equal(archive?.['msg'], 'clean: not forwarded (the source has no validation queue)');
  assert.equal(archive?.['validationQueue'], null);
});

test("a source's unscannableAction overrides UNSCANNABLE_ACTION, either way, for its own files only", async () => {
  const [uploads, imports, archive] = SOURCES as [Source, Source, Source];
  const zips = body(['uploads', `in/${GUID}/secret.zip`], ['imports', 'x/secret.zip']);
  const quarantinedKeys = (seen: World) => seen.copies.map((c) => c.from.key);
  const forwardedKeys = (seen: World) => seen.forwarded.map((f) => JSON.parse(f.message.body).Records[0].s3.object.key as string);

  // Globally quarantine; "imports" forwards its unscannable files.
  const forwarding = world({ sources: [uploads, { ...imports, rules: { unscannableAction: 'forward' } }, archive] });
  assert.deepEqual(await forwarding.send(zips), { action: 'delete' });
  assert.deepEqual(quarantinedKeys(forwarding.seen), [`in/${GUID}/secret.zip`]);
  assert.deepEqual(forwardedKeys(forwarding.seen), ['x/secret.zip']);
  const forwardedLine = forwarding.seen.lines.find((l) => l['bucket'] === 'imports' && l['outcome'] === 'unscannable');
  assert.ok(forwardedLine, 'the forwarded file is still logged as unscannable, never clean');

  // Globally forward; "uploads" quarantines its own.
  const quarantining = world({
    unscannableAction: 'forward',
    sources: [{ ...uploads, rules: { unscannableAction: 'quarantine' } }, imports, archive],
  });
  assert.deepEqual(await quarantining.send(zips), { action: 'delete' });
  assert.deepEqual(quarantinedKeys(quarantining.seen), [`in/${GUID}/secret.zip`]);
  assert.deepEqual(forwardedKeys(quarantining.seen), ['x/secret.zip']);
  // Nothing unscannable is ever tagged CLEAN.
  for (const { seen } of [forwarding, quarantining]) {
    assert.ok(seen.tags.every((t) => t.tags.every((tag) => tag.Value !== 'CLEAN')));
  }
});

test('one result event per verdict, GuardDuty-shaped, with bucketscan fields beside', async () => {
  const { seen, send } = world();
  await send(
    body(['uploads', `in/${GUID}/clean.txt`], ['uploads', `in/${GUID}/eicar.com`], ['imports', 'big.iso'], ['archive', 'secret.zip']),
    'rescan',
  );
  assert.equal(seen.results.length, 4);
  for (const event of seen.results) {
    assert.equal(event.source, 'bucketscan');
    assert.equal(event.detailType, 'Object Scan Result');
    assert.equal(event.detail['schemaVersion'], '1.0');
    assert.equal(event.detail['resourceType'], 'S3_OBJECT');
    assert.deepEqual(event.detail['engine'], ENGINE);
    assert.equal(event.detail['origin'], 'rescan');
  }
  const [clean, infected, large, unscannable] = seen.results.map((e) => e.detail);
  assert.deepEqual(clean, {
    schemaVersion: '1.0',
    scanStatus: 'COMPLETED',
    resourceType: 'S3_OBJECT',
    s3ObjectDetails: { bucketName: 'uploads', objectKey: `in/${GUID}/clean.txt`, eTag: 'e1', versionId: 'v1' },
    scanResultDetails: { scanResultStatus: 'NO_THREATS_FOUND', threats: null },
    outcome: 'clean',
    status: 'CLEAN',
    signature: null,
    signatureOrigin: null,
    size: `in/${GUID}/clean.txt`.length,
    quarantine: null,
    engine: ENGINE,
    origin: 'rescan',
    source: { bucket: 'uploads', prefix: 'in/' },
    scannedAt: '2026-11-21T10:00:05.000Z',
  });
  assert.equal(infected!['scanStatus'], 'COMPLETED');
  assert.deepEqual(infected!['scanResultDetails'], { scanResultStatus: 'THREATS_FOUND', threats: [{ name: 'Win.Test.EICAR_HDB-1' }] });
  assert.equal(infected!['signatureOrigin'], 'clamav');
  assert.deepEqual(infected!['quarantine'], {
    bucket: 'quarantine',
    key: `uploads/in/${GUID}/eicar.com`,
    reportKey: `uploads/in/${GUID}/eicar.com.report.json`,
  });
  assert.equal(large!['scanStatus'], 'SKIPPED');
  assert.deepEqual(large!['scanResultDetails'], { scanResultStatus: 'UNSUPPORTED', threats: null });
  assert.equal(large!['outcome'], 'too-large');
  assert.equal(unscannable!['scanStatus'], 'SKIPPED');
  assert.deepEqual(unscannable!['scanResultDetails'], { scanResultStatus: 'UNSUPPORTED', threats: null });
  assert.equal(unscannable!['signature'], 'Heuristics.Encrypted.Zip');
  assert.equal(unscannable!['signatureOrigin'], 'clamav');
  assert.equal(unscannable!['detail'], 'encrypted Zip content that clamd cannot open');
  assert.equal(seen.results[0]!.time.toISOString(), '2026-11-21T10:00:05.000Z');
});

test('a result event that cannot be published keeps the message: an infected file is not deleted yet', async () => {
  const { seen, send } = world({ failResults: true });
  const result = await send(body(['uploads', `in/${GUID}/eicar.com`]));
  assert.equal(result.action, 'retry');
  assert.equal(seen.published.length, 1, 'reported and notified');
  assert.deepEqual(seen.deleted, [], 'the infected version stays until its result event is out');
  const clean = await world({ failResults: true }).send(body(['uploads', `in/${GUID}/clean.txt`]));
  assert.equal(clean.action, 'retry');
});

test('STATUS_TAG_STYLE=guardduty: GuardDuty’s words on the tag, never NO_THREATS_FOUND for what clamd did not call clean', async () => {
  const { seen, send } = world({ style: 'guardduty' });
  await send(body(['uploads', `in/${GUID}/clean.txt`], ['uploads', `in/${GUID}/eicar.com`], ['archive', 'secret.zip']));
  assert.deepEqual(
    seen.tags.map((t) => t.tags[0]?.Value),
    ['NO_THREATS_FOUND'],
  );
  // The quarantined copy carries its status among the source's tags.
  const line = seen.lines.find((l) => l['outcome'] === 'infected');
  assert.equal(line?.['statusTag'], 'THREATS_FOUND');
  assert.equal(seen.lines.find((l) => l['outcome'] === 'unscannable')?.['statusTag'], 'UNSUPPORTED');
  // The forwarded message keeps bucketscan's own contract.
  assert.equal(seen.forwarded[0]?.message.attributes['status']?.StringValue, 'CLEAN');
});
