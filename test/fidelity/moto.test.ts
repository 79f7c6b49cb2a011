// The worker against moto_server: S3 versioning and S3 -> SQS bucket notifications
// implemented by moto itself (not by the project's notification bridge), SNS -> SQS
// fan-out with moto's envelope, and a real clamd loaded with the test signatures.
//
// What moto 5.x sends, as these tests rely on it:
// - on PutBucketNotificationConfiguration, one {"Service","Event":"s3:TestEvent","Time","Bucket"}
//   document on the queue;
// - per upload, {"Records":[record]} with eventVersion "2.1", eventName "ObjectCreated:Put",
//   the key form-encoded ('/' included, as %2F), size, and the eTag without quotes, but
//   NO versionId and no sequencer, even in a versioned bucket (AWS sends a versionId there).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandOutput,
} from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { runWorker } from '../../src/worker/service.ts';
import { decodeEventKey } from '../../src/events/key.ts';
import { copyObject, deleteVersion, openObject } from '../../src/aws/objects.ts';
import { startMotoAndClamd, type Moto } from '../support/moto.ts';
import { expectFixture, startIamRecorder, type IamRecorder } from '../support/iam-recorder.ts';
import {
  createQueue as createQueueIn,
  queueArn as queueArnIn,
  queueDepth as queueDepthOf,
  routeNotificationsToNewQueue as routeNotifications,
  type Inbound,
} from '../support/moto-notifications.ts';
import { eicar, EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE } from '../support/samples.ts';
import { LogSink, REGION, RESOURCES, type startTestClamd } from '../support/stack.ts';
import { failFast } from '../support/wait.ts';
import { queueReader } from '../support/queue-reader.ts';
import { freePort } from '../../src/local/free-port.ts';

const UNPROCESSED = RESOURCES.unprocessedBucket;
const QUARANTINE = RESOURCES.quarantineBucket;
/** A versioned bucket without notifications, for the S3 adapters on their own. */
const ADAPTERS = 'adapters';
/** Becomes the configurationId of every record moto sends, which tells its records from hand-built ones. */
const NOTIFICATION_ID = 'bucketscan-inbound';

type Json = Record<string, any>;
type LogLine = Record<string, unknown>;

let moto: Moto | undefined;
/** The worker reaches moto through it: every request, as IAM sees it (deploy/test/iam.test.ts evaluates them). */
let recorder: IamRecorder | undefined;
let clamd: Awaited<ReturnType<typeof startTestClamd>> | undefined;
let s3: S3Client;
let sqs: SQSClient;
let sns: SNSClient;
let topicArn: string;
let validationUrl: string;
let inboxUrl: string;
const logs = new LogSink();
const logger = createLogger('debug', 'bucketscan', logs.stream);

// A worker that dies is reported at once, not after a waitFor deadline.
const { fail: failWorker, until } = failFast();

const unquoted = (eTag: string | undefined) => eTag?.replace(/"/g, '');
const key = (filename: string) => `${randomUUID()}/${filename}`;
const eventKey = (record: Json) => {
  const decoded = decodeEventKey(String(record['s3']?.object?.key));
  return decoded.ok ? decoded.key : undefined;
};
const forwardedKey = (message: Message) => eventKey(JSON.parse(message.Body!).Records[0]);
const envelopeOf = (message: Message) => JSON.parse(message.Body!) as Json;
const reportOf = (message: Message) => JSON.parse(envelopeOf(message)['Message']) as Json;

const createQueue = (name: string, attributes: Record<string, string> = {}) => createQueueIn(sqs, name, attributes);
const queueDepth = (url: string) => queueDepthOf(sqs, url);
const queueArn = (url: string) => queueArnIn(sqs, url);

/** A fresh inbound queue that the unprocessed bucket's notifications now go to (see test/support/moto-notifications.ts). */
function routeNotificationsToNewQueue(name: string): Promise<Inbound> {
  return routeNotifications(s3, sqs, {
    bucket: UNPROCESSED,
    queueName: name,
    maxReceiveCount: RESOURCES.maxReceiveCount,
    notificationId: NOTIFICATION_ID,
  });
}

/** Starts the worker in this process, reading `inbound`; returns a function that stops it gracefully. */
function startWorker(inbound: Inbound, env: Record<string, string> = {}): () => Promise<void> {
  const config = loadConfig({
    UNPROCESSED_BUCKET_NAME: UNPROCESSED,
    QUARANTINE_BUCKET_NAME: QUARANTINE,
    VIRUS_SCANNING_QUEUE_NAME: inbound.name,
    VALIDATION_QUEUE_NAME: RESOURCES.validationQueueName,
    VIRUS_NOTIFICATION_TOPIC_ARN: topicArn,
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: recorder!.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    RECEIVE_WAIT_TIME: '1',
    ...(clamd!.clamd.address.kind === 'tcp'
      ? { CLAMD_HOST: clamd!.clamd.address.host, CLAMD_PORT: String(clamd!.clamd.address.port) }
      : { CLAMD_SOCKET: clamd!.clamd.address.path }),
    ...env,
  });
  const controller = new AbortController();
  const done = runWorker(config, logger, controller.signal);
  done.catch(failWorker);
  let stopping: Promise<void> | undefined;
  return () => {
    if (!stopping) {
      controller.abort();
      stopping = done;
    }
    return stopping;
  };
}

const validation = queueReader(
  () => sqs,
  () => validationUrl,
  until,
);
const inbox = queueReader(
  () => sqs,
  () => inboxUrl,
  until,
);

function outcome(objectKey: string, expected: string): Promise<LogLine> {
  return until(`a logged "${expected}" outcome for ${objectKey}`, () =>
    logs.find((line) => line['key'] === objectKey && line['outcome'] === expected),
  );
}

async function put(bucket: string, objectKey: string, body: Buffer | string): Promise<PutObjectCommandOutput> {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: body }));
}

async function getBytes(bucket: string, objectKey: string, versionId?: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey, ...(versionId ? { VersionId: versionId } : {}) }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function exists(bucket: string, objectKey: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Every version and delete marker of exactly this key. */
async function versionsOf(bucket: string, objectKey: string) {
  const response = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: objectKey }));
  return {
    versions: (response.Versions ?? [])
      .filter((v) => v.Key === objectKey)
      .map((v) => ({ versionId: v.VersionId, isLatest: v.IsLatest, eTag: unquoted(v.ETag) })),
    deleteMarkers: (response.DeleteMarkers ?? []).filter((m) => m.Key === objectKey).map((m) => m.VersionId),
  };
}

/** The tag set of one version, as an object. */
async function tagsOf(bucket: string, objectKey: string, versionId?: string): Promise<Record<string, string>> {
  const response = await s3.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: objectKey, ...(versionId ? { VersionId: versionId } : {}) }),
  );
  return Object.fromEntries((response.TagSet ?? []).map((tag) => [tag.Key!, tag.Value!]));
}

/** Every message the worker settled was deleted: nothing left in flight, nothing dead-lettered. */
async function expectDrained(inbound: Inbound): Promise<void> {
  await until(`the inbound queue ${inbound.name} to be empty`, async () => ((await queueDepth(inbound.url)) === 0 ? true : undefined));
  assert.equal(await queueDepth(inbound.dlqUrl), 0, 'nothing reached the dead-letter queue');
}

/** The report in the quarantine bucket, checked against the one published to the topic. */
async function expectQuarantined(
  objectKey: string,
  uploaded: PutObjectCommandOutput,
  signature: string = EICAR_SIGNATURE,
  body: Buffer = eicar(),
): Promise<Json> {
  const notification = await inbox.message(`a notification for ${objectKey}`, (m) => reportOf(m)['key'] === objectKey);
  const envelope = envelopeOf(notification);
  assert.equal(envelope['Type'], 'Notification');
  assert.equal(envelope['TopicArn'], topicArn);
  assert.equal(envelope['Subject'], `bucketscan: virus detected in ${UNPROCESSED}`);
  // moto's envelope carries attributes as {Type, Value}, as SNS does.
  assert.deepEqual(envelope['MessageAttributes'], {
    status: { Type: 'String', Value: 'INFECTED' },
    bucket: { Type: 'String', Value: UNPROCESSED },
    signature: { Type: 'String', Value: signature },
    // The project's test signatures are unsigned and not custom.
    signatureOrigin: { Type: 'String', Value: 'third-party' },
  });
  const report = reportOf(notification);
  const stored = JSON.parse((await getBytes(QUARANTINE, `${objectKey}.report.json`)).toString('utf8')) as Json;
  assert.deepEqual(report, stored, 'the notification carries the stored report');
  assert.equal(report['key'], objectKey);
  assert.equal(report['bucket'], UNPROCESSED);
  assert.equal(report['status'], 'INFECTED');
  assert.equal(report['reason'], 'virus detected');
  assert.equal(report['signature'], signature);
  assert.equal(report['versionId'], uploaded.VersionId, 'the report names the version that was scanned');
  assert.equal(report['eTag'], unquoted(uploaded.ETag));
  assert.equal(report['size'], body.length);
  assert.deepEqual(report['quarantine'], { bucket: QUARANTINE, key: objectKey, reportKey: `${objectKey}.report.json` });
  assert.ok((await getBytes(QUARANTINE, objectKey)).equals(body), 'the quarantined copy has the scanned content');
  return report;
}

/** Checks a validation-queue message that should carry moto's own record for `objectKey`. */
function expectMotoRecord(forwarded: Message, objectKey: string, uploaded: PutObjectCommandOutput, size: number): Json {
  const body = JSON.parse(forwarded.Body!) as Json;
  assert.deepEqual(Object.keys(body), ['Records']);
  assert.equal(body['Records'].length, 1);
  const record = body['Records'][0] as Json;
  assert.equal(record['eventSource'], 'aws:s3');
  assert.equal(record['eventVersion'], '2.1');
  assert.equal(record['eventName'], 'ObjectCreated:Put');
  assert.equal(record['awsRegion'], REGION);
  assert.equal(record['s3'].configurationId, NOTIFICATION_ID, 'the record is the one moto produced');
  assert.equal(record['s3'].bucket.name, UNPROCESSED);
  assert.equal(eventKey(record), objectKey);
  assert.equal(record['s3'].object.size, size);
  assert.equal(record['s3'].object.eTag, unquoted(uploaded.ETag), 'moto sends the eTag without quotes, as S3 does');
  assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
  assert.match(forwarded.MessageAttributes?.['engine']?.StringValue ?? '', /^ClamAV /);
  assert.match(forwarded.MessageAttributes?.['scannedAt']?.StringValue ?? '', /^\d{4}-\d\d-\d\dT/);
  return record;
}

before(async () => {
  ({ moto, clamd } = await startMotoAndClamd());

  const connection = { region: REGION, endpoint: moto!.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  sns = new SNSClient(connection);

  for (const bucket of [UNPROCESSED, QUARANTINE, ADAPTERS]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const bucket of [UNPROCESSED, ADAPTERS]) {
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  }
  validationUrl = await createQueue(RESOURCES.validationQueueName);
  topicArn = (await sns.send(new CreateTopicCommand({ Name: RESOURCES.topicName }))).TopicArn!;
  inboxUrl = await createQueue(RESOURCES.notificationQueueName);
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: await queueArn(inboxUrl) }));
  recorder = await startIamRecorder(moto!.endpoint, {
    buckets: { [UNPROCESSED]: '{unprocessed}', [QUARANTINE]: '{quarantine}' },
    queues: { [RESOURCES.validationQueueName]: '{validation}' },
    topics: { [RESOURCES.topicName]: '{topic}' },
    statusTag: 'bucketscan-status',
  });
});

after(async () => {
  s3?.destroy();
  sqs?.destroy();
  sns?.destroy();
  await recorder?.stop();
  await Promise.all([moto?.stop(), clamd?.stop()]);
});

describe("moto's own bucket notifications, worker running", () => {
  let inbound: Inbound;
  let stopWorker: (() => Promise<void>) | undefined;
  before(async () => {
    inbound = await routeNotificationsToNewQueue(RESOURCES.inboundQueueName);
    // Low enough that one test file takes the multipart copy path S3 needs above 5 GiB.
    stopWorker = startWorker(inbound, { MULTIPART_COPY_THRESHOLD: '6' });
  });
  after(async () => {
    await stopWorker?.();
  });

  test('the s3:TestEvent moto sends when the configuration is saved is deleted quietly', async () => {
    const body = JSON.parse(inbound.testEvent.Body!) as Json;
    assert.deepEqual(Object.keys(body).sort(), ['Bucket', 'Event', 'Service', 'Time']);
    assert.equal(body['Service'], 'Amazon S3');
    assert.equal(body['Bucket'], UNPROCESSED);
    const id = inbound.testEvent.MessageId;
    const line = await until('the test event to be handled', () =>
      logs.find((l) => l['messageId'] === id && l['outcome'] === 'test-event'),
    );
    assert.equal(line['level'], 'info');
    assert.equal(line['receiveCount'], 2, 'moto reports the receive count (the setup looked at the message once)');
    assert.deepEqual(
      logs.lines.filter((l) => l['messageId'] === id && (l['level'] === 'warn' || l['level'] === 'error')),
      [],
    );
    await expectDrained(inbound);
  });

  test('a clean upload is forwarded as moto sent it and stays in place', async () => {
    const objectKey = key('hello.txt');
    const uploaded = await put(UNPROCESSED, objectKey, 'hello, world\n');
    const forwarded = await validation.message(`the forward of ${objectKey}`, (m) => forwardedKey(m) === objectKey);
    expectMotoRecord(forwarded, objectKey, uploaded, 13);
    const logged = await outcome(objectKey, 'clean');
    assert.equal(logged['signature'], null);
    assert.deepEqual(await versionsOf(UNPROCESSED, objectKey), {
      versions: [{ versionId: uploaded.VersionId, isLatest: true, eTag: unquoted(uploaded.ETag) }],
      deleteMarkers: [],
    });
    assert.equal((await getBytes(UNPROCESSED, objectKey)).toString('utf8'), 'hello, world\n');
    assert.equal(await exists(QUARANTINE, objectKey), false, 'a clean file is never quarantined');
    assert.deepEqual(
      await tagsOf(UNPROCESSED, objectKey, uploaded.VersionId),
      { 'bucketscan-status': 'CLEAN' },
      'the scanned version is tagged CLEAN',
    );
    assert.equal(logged['statusTag'], 'CLEAN');
    await expectDrained(inbound);
  });

  test('EICAR in the versioned bucket is quarantined, reported, notified, and its version deleted outright', async () => {
    const objectKey = key('eicar.com');
    const uploaded = await put(UNPROCESSED, objectKey, eicar());
    assert.ok(uploaded.VersionId, 'the bucket is versioned');
    const report = await expectQuarantined(objectKey, uploaded);
    assert.equal(report['filename'], 'eicar.com');
    assert.equal(report['submissionGuid'], objectKey.split('/')[0]);
    const logged = await outcome(objectKey, 'infected');
    assert.equal(logged['signature'], EICAR_SIGNATURE);
    // The scanned version itself is gone: not hidden behind a delete marker.
    assert.deepEqual(await versionsOf(UNPROCESSED, objectKey), { versions: [], deleteMarkers: [] });
    await expectDrained(inbound);
  });

  test('keys with spaces, plus signs, brackets and non-ASCII characters', async () => {
    const guid = randomUUID();
    const clean = `${guid}/my report + notes (v2) é 文件.txt`;
    const infected = `${guid}/fäke invoice +1 (copy) 文件.exe`;
    const cleanUpload = await put(UNPROCESSED, clean, 'fine');
    const infectedUpload = await put(UNPROCESSED, infected, eicar());
    const forwarded = await validation.message(`the forward of ${clean}`, (m) => forwardedKey(m) === clean);
    expectMotoRecord(forwarded, clean, cleanUpload, 4);
    const report = await expectQuarantined(infected, infectedUpload);
    assert.equal(report['filename'], 'fäke invoice +1 (copy) 文件.exe');
    await outcome(infected, 'infected');
    assert.deepEqual(await versionsOf(UNPROCESSED, infected), { versions: [], deleteMarkers: [] });
    assert.equal((await getBytes(UNPROCESSED, clean)).toString('utf8'), 'fine');
    await expectDrained(inbound);
  });
});

describe('status tags, metrics and rescans (worker with HEALTH_PORT)', () => {
  let inbound: Inbound;
  let stopWorker: (() => Promise<void>) | undefined;
  let metricsUrl: string;
  before(async () => {
    inbound = await routeNotificationsToNewQueue(`${RESOURCES.inboundQueueName}-tags`);
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    stopWorker = startWorker(inbound, { HEALTH_PORT: String(port) });
  });
  after(async () => {
    await stopWorker?.();
  });

  const putTagged = (objectKey: string, body: Buffer | string, tagging: string) =>
    s3.send(new PutObjectCommand({ Bucket: UNPROCESSED, Key: objectKey, Body: body, Tagging: tagging }));

  test("the status joins the object's own tags on exactly the scanned version", async () => {
    const objectKey = key('tagged.txt');
    const uploaded = await putTagged(objectKey, 'tagged and clean', 'team=payments&case=42');
    await validation.message(`the forward of ${objectKey}`, (m) => forwardedKey(m) === objectKey);
    assert.deepEqual(await tagsOf(UNPROCESSED, objectKey, uploaded.VersionId), {
      team: 'payments',
      case: '42',
      'bucketscan-status': 'CLEAN',
    });
    await expectDrained(inbound);
  });

  test('an uploader cannot pre-set the status: a CLEAN it wrote on EICAR is replaced on the quarantined copy', async () => {
    const objectKey = key('pretagged.com');
    const uploaded = await putTagged(objectKey, eicar(), 'bucketscan-status=CLEAN&team=x');
    await expectQuarantined(objectKey, uploaded);
    assert.deepEqual(await tagsOf(QUARANTINE, objectKey), { team: 'x', 'bucketscan-status': 'INFECTED' });
    const logged = await outcome(objectKey, 'infected');
    assert.equal(logged['statusTag'], 'INFECTED');
    await expectDrained(inbound);
  });

  test("an object with S3's ten tags already is forwarded untagged, saying why, never retried", async () => {
    const objectKey = key('ten-tags.txt');
    const ten = Array.from({ length: 10 }, (_, i) => `t${i}=v${i}`).join('&');
    const uploaded = await putTagged(objectKey, 'clean but full of tags', ten);
    const forwarded = await validation.message(`the forward of ${objectKey}`, (m) => forwardedKey(m) === objectKey);
    assert.match(forwarded.MessageAttributes?.['statusTagProblem']?.StringValue ?? '', /10 other tags/);
    const tags = await tagsOf(UNPROCESSED, objectKey, uploaded.VersionId);
    assert.equal(Object.keys(tags).length, 10);
    assert.equal(tags['bucketscan-status'], undefined, 'no status was written, so a fail-closed policy keeps denying reads');
    const logged = await outcome(objectKey, 'clean');
    assert.equal(logged['statusTag'], null);
    assert.match(String(logged['statusTagProblem']), /S3's limit is 10/);
    await expectDrained(inbound);
  });

  test('a rescan event says so in the log, the report and the metrics', async () => {
    const objectKey = key('rescanned.com');
    // An object already in the bucket, as rescans find them: with the bucket's
    // notifications off while it is written, so that no upload event races the
    // rescan's (this is the describe's last test; the next describe routes them anew).
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: UNPROCESSED, NotificationConfiguration: {} }));
    const uploaded = await put(UNPROCESSED, objectKey, eicar());
    const current = { VersionId: uploaded.VersionId };
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: inbound.url,
        MessageBody: JSON.stringify({
          Records: [
            {
              eventVersion: '2.1',
              eventSource: 'aws:s3',
              awsRegion: REGION,
              eventTime: new Date().toISOString(),
              eventName: 'ObjectCreated:Put',
              s3: {
                bucket: { name: UNPROCESSED },
                object: {
                  key: encodeURIComponent(objectKey).replace(/%2F/g, '/'),
                  size: eicar().length,
                  eTag: unquoted(uploaded.ETag),
                  versionId: current.VersionId,
                },
              },
            },
          ],
        }),
        MessageAttributes: { 'bucketscan-origin': { DataType: 'String', StringValue: 'rescan' } },
      }),
    );
    const rescanned = await until('the rescan outcome', () =>
      logs.find((l) => l['key'] === objectKey && l['outcome'] === 'infected' && l['origin'] === 'rescan'),
    );
    assert.equal(rescanned['versionId'], current.VersionId);
    const report = JSON.parse((await getBytes(QUARANTINE, `${objectKey}.report.json`)).toString('utf8')) as Json;
    assert.equal(report['origin'], 'rescan');
    const text = await until('the rescan to be counted', async () => {
      const body = await (await fetch(metricsUrl)).text();
      return /bucketscan_records_total\{outcome="infected",origin="rescan"\} [1-9]/.test(body) ? body : undefined;
    });
    assert.match(text, /bucketscan_records_total\{outcome="clean",origin="event"\} [1-9]/);
    assert.match(text, /bucketscan_scan_duration_seconds_count [1-9]/);
    assert.match(text, /bucketscan_scanned_bytes_total [1-9]/);
    assert.match(text, /bucketscan_object_size_bytes_bucket/);
    assert.match(text, /bucketscan_in_flight_messages \d/);
    assert.match(text, /bucketscan_clamd_up 1/);
    assert.match(text, /process_resident_memory_bytes/);
    await expectDrained(inbound);
  });
});

describe('quarantine copies as S3 needs them (same worker settings: MULTIPART_COPY_THRESHOLD=6 MB)', () => {
  let inbound: Inbound;
  let stopWorker: (() => Promise<void>) | undefined;
  before(async () => {
    inbound = await routeNotificationsToNewQueue(`${RESOURCES.inboundQueueName}-copies`);
    stopWorker = startWorker(inbound, { MULTIPART_COPY_THRESHOLD: '6' });
  });
  after(async () => {
    await stopWorker?.();
  });

  test('a file above the threshold is quarantined whole with a multipart copy (UploadPartCopy)', async () => {
    const objectKey = key('large.bin');
    const body = Buffer.alloc(13 * 1024 * 1024, 0x41);
    Buffer.from(MARKER).copy(body, body.length - MARKER.length);
    const uploaded = await put(UNPROCESSED, objectKey, body);
    const report = await expectQuarantined(objectKey, uploaded, MARKER_SIGNATURE, body);
    assert.equal(report['size'], body.length);
    const copy = await s3.send(new HeadObjectCommand({ Bucket: QUARANTINE, Key: objectKey }));
    assert.match(String(copy.ETag), /-3"$/, 'copied in three parts');
    assert.ok((await getBytes(QUARANTINE, objectKey)).equals(body), 'the copy is byte for byte the scanned version');
    await expectDrained(inbound);
  });

  test('an SSE-KMS object keeps its encryption and key in quarantine', async () => {
    const objectKey = key('secret.com');
    const kmsKey = 'arn:aws:kms:us-east-1:123456789012:key/5b0e5e4e-0000-4000-8000-bucketscan01';
    const uploaded = await s3.send(
      new PutObjectCommand({ Bucket: UNPROCESSED, Key: objectKey, Body: eicar(), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey }),
    );
    await expectQuarantined(objectKey, uploaded);
    const copy = await s3.send(new HeadObjectCommand({ Bucket: QUARANTINE, Key: objectKey }));
    assert.equal(copy.ServerSideEncryption, 'aws:kms');
    assert.equal(copy.SSEKMSKeyId, kmsKey);
    await expectDrained(inbound);
  });
});

describe('an EICAR upload overwritten by a clean one before the worker runs', () => {
  test("with moto's events (no versionId) the event for the infected version is dropped and that version stays", async () => {
    const inbound = await routeNotificationsToNewQueue('virus-scanning-overwritten');
    const objectKey = key('invoice.pdf');
    const a = await put(UNPROCESSED, objectKey, eicar());
    const b = await put(UNPROCESSED, objectKey, 'clean second version');
    const stopWorker = startWorker(inbound);
    try {
      const dropped = await outcome(objectKey, 'dropped');
      // If moto ever sends a versionId, this case turns into the next test's and this assertion says so.
      assert.equal(dropped['versionId'], undefined, "moto's event has no versionId");
      // Without a versionId the worker can only pin the read with If-Match on the eTag, which the current version B fails.
      assert.equal(dropped['reason'], 'object changed since the event (eTag no longer matches)');
      await outcome(objectKey, 'clean');
      const forwarded = await validation.message(`the forward of ${objectKey}`, (m) => forwardedKey(m) === objectKey);
      expectMotoRecord(forwarded, objectKey, b, 'clean second version'.length);
      assert.deepEqual(await versionsOf(UNPROCESSED, objectKey), {
        versions: [
          { versionId: b.VersionId, isLatest: true, eTag: unquoted(b.ETag) },
          { versionId: a.VersionId, isLatest: false, eTag: unquoted(a.ETag) },
        ],
        deleteMarkers: [],
      });
      assert.deepEqual(await getBytes(UNPROCESSED, objectKey, a.VersionId), eicar(), 'the infected noncurrent version is left behind');
      assert.equal((await getBytes(UNPROCESSED, objectKey)).toString('utf8'), 'clean second version');
      assert.equal(await exists(QUARANTINE, objectKey), false);
      assert.deepEqual(
        (await inbox.received()).filter((m) => reportOf(m)['key'] === objectKey),
        [],
      );
      await expectDrained(inbound);
    } finally {
      await stopWorker();
    }
  });

  test('with events pinned to a versionId, as AWS sends them, exactly version A is quarantined and B is forwarded', async () => {
    const inbound = await routeNotificationsToNewQueue('virus-scanning-pinned');
    const objectKey = key('invoice.pdf');
    const a = await put(UNPROCESSED, objectKey, eicar());
    const b = await put(UNPROCESSED, objectKey, 'clean second version');

    // Take moto's two records off the queue and put them back with the versionId AWS would have set.
    const versionByETag = new Map([
      [unquoted(a.ETag), a.VersionId],
      [unquoted(b.ETag), b.VersionId],
    ]);
    const taken: Json[] = [];
    await until(`moto's two events for ${objectKey}`, async () => {
      const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: inbound.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      for (const message of response.Messages ?? []) {
        const document = JSON.parse(message.Body!) as Json;
        if (document['Event'] === 's3:TestEvent') {
          await sqs.send(
            new ChangeMessageVisibilityCommand({ QueueUrl: inbound.url, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }),
          );
          continue;
        }
        taken.push(...(document['Records'] as Json[]));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: inbound.url, ReceiptHandle: message.ReceiptHandle }));
      }
      return taken.length >= 2 ? true : undefined;
    });
    assert.equal(taken.length, 2);
    const pinned = taken.map((record) => {
      assert.equal(eventKey(record), objectKey);
      const versionId = versionByETag.get(record['s3'].object.eTag);
      assert.ok(versionId, `record eTag ${record['s3'].object.eTag} is one of the uploads`);
      return { ...record, s3: { ...record['s3'], object: { ...record['s3'].object, versionId } } } as Json;
    });
    for (const record of pinned) {
      await sqs.send(new SendMessageCommand({ QueueUrl: inbound.url, MessageBody: JSON.stringify({ Records: [record] }) }));
    }
    const pinnedB = pinned.find((record) => record['s3'].object.versionId === b.VersionId);

    const stopWorker = startWorker(inbound);
    try {
      const infected = await outcome(objectKey, 'infected');
      assert.equal(infected['versionId'], a.VersionId);
      const clean = await outcome(objectKey, 'clean');
      assert.equal(clean['versionId'], b.VersionId);

      await expectQuarantined(objectKey, a);
      const forwarded = await validation.message(`the forward of ${objectKey}`, (m) => forwardedKey(m) === objectKey);
      assert.deepEqual(JSON.parse(forwarded.Body!), { Records: [pinnedB] }, 'the record is forwarded exactly as received');
      assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');

      // Version A is deleted outright; B is untouched and still current.
      assert.deepEqual(await versionsOf(UNPROCESSED, objectKey), {
        versions: [{ versionId: b.VersionId, isLatest: true, eTag: unquoted(b.ETag) }],
        deleteMarkers: [],
      });
      assert.equal((await getBytes(UNPROCESSED, objectKey)).toString('utf8'), 'clean second version');
      await expectDrained(inbound);
    } finally {
      await stopWorker();
    }
  });
});

describe('the S3 adapters on a versioned moto bucket', () => {
  const objectKey = key("a+b c (1) é 文件 !'*~.bin");
  let a: PutObjectCommandOutput;
  let b: PutObjectCommandOutput;
  const version = (v: PutObjectCommandOutput | undefined, eTag = true) => ({
    bucket: ADAPTERS,
    key: objectKey,
    versionId: v?.VersionId,
    eTag: eTag ? unquoted(v?.ETag) : undefined,
  });
  before(async () => {
    a = await put(ADAPTERS, objectKey, 'version A');
    b = await put(ADAPTERS, objectKey, 'version B, longer');
  });

  test('openObject reads the version named, and with only an eTag, only a current version that matches', async () => {
    const pinned = await openObject(s3, version(a, false));
    assert.equal(pinned.kind, 'found');
    if (pinned.kind !== 'found') return;
    const read: Uint8Array[] = [];
    for await (const piece of pinned.body) read.push(piece);
    assert.equal(Buffer.concat(read).toString('utf8'), 'version A');
    const { body: _body, attributes, ...state } = pinned;
    assert.deepEqual(state, { kind: 'found', size: 9, eTag: unquoted(a.ETag), versionId: a.VersionId, tagCount: 0 });
    assert.equal(attributes.serverSideEncryption === undefined || attributes.serverSideEncryption === 'AES256', true);

    assert.deepEqual(await openObject(s3, { ...version(a), versionId: undefined }), { kind: 'precondition-failed' });

    const current = await openObject(s3, { ...version(b), versionId: undefined });
    assert.equal(current.kind, 'found');
    if (current.kind !== 'found') return;
    current.body.destroy();
    assert.equal(current.versionId, b.VersionId, 'the version served is reported, so later steps can pin it');
  });

  test('copyObject copies the version named (CopySource with ?versionId=), whatever the key holds', async () => {
    await copyObject(s3, version(a), { bucket: QUARANTINE, key: `adapters/${objectKey}` });
    assert.equal((await getBytes(QUARANTINE, `adapters/${objectKey}`)).toString('utf8'), 'version A');
  });

  test('deleteVersion removes exactly that version and leaves no delete marker', async () => {
    await deleteVersion(s3, version(a));
    assert.deepEqual(await versionsOf(ADAPTERS, objectKey), {
      versions: [{ versionId: b.VersionId, isLatest: true, eTag: unquoted(b.ETag) }],
      deleteMarkers: [],
    });
    assert.deepEqual(await openObject(s3, version(a)), { kind: 'gone' });
    await deleteVersion(s3, version(b));
    assert.deepEqual(await versionsOf(ADAPTERS, objectKey), { versions: [], deleteMarkers: [] });
    assert.deepEqual(await openObject(s3, { ...version(b), versionId: undefined }), { kind: 'gone' });
  });
});

// Last: what the worker called in the tests above, as IAM sees it, is what the IAM proof evaluates.
test('every AWS call the worker made is listed for the IAM proof (deploy/test/iam/worker.json)', () => {
  expectFixture('worker', recorder!.calls());
});
