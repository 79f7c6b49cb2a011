// One worker, three buckets on moto_server, each reaching the one inbound queue
// its own way, with its own key layout, quarantine folder and validation queue:
//
//   fleet-direct  S3 -> SQS (moto's bucket notification)      submission under in/, validation queue A
//   fleet-sns     S3 -> SNS -> SQS (moto's topic notification) any key under scan/, validation queue B
//                                                               (by URL), its own report topic
//   fleet-eb      S3 -> EventBridge -> SQS (moto's native       submission, no validation queue:
//                 EventBridge notifications and a rule)        clean files are tagged and announced
//
// EICAR, clean files and invalid keys in each; every verdict is published on
// moto's default event bus, and a rule sends bucketscan's result events to a
// queue where the GuardDuty-shaped fields are checked.
//
// What moto 5.x sends for EventBridge, as this relies on it: `detail.object` has
// `eTag` (AWS: `etag`), the key is not percent-encoded, `version-id` is present
// in a versioned bucket, `reason` is "ObjectCreated". Its rules route to SQS
// targets and match `prefix` patterns. The keys of its native events here have
// spaces and non-ASCII characters (an unencoded key with those decodes to
// itself); a key with "+" goes through an AWS-shaped event sent by hand, as
// EventBridge would deliver it (docs/behaviour.md, "Emulators").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { createLogger } from '../../src/log/logger.ts';
import { decodeEventKey } from '../../src/events/key.ts';
import { encodeEventKey } from '../../src/events/s3-event.ts';
import { startMotoAndClamd, startMotoWorker, type Moto } from '../support/moto.ts';
import { createQueue as createQueueIn, queueArn as queueArnIn, queueDepth as queueDepthOf } from '../support/moto-notifications.ts';
import { eicar, EICAR_SIGNATURE } from '../support/samples.ts';
import { LogSink, REGION, type startTestClamd } from '../support/stack.ts';
import { failFast } from '../support/wait.ts';
import { queueReader } from '../support/queue-reader.ts';
import { objectExists } from '../support/stack.ts';

const DIRECT = 'fleet-direct';
const SNS_BUCKET = 'fleet-sns';
const EB = 'fleet-eb';
const QUARANTINE = 'fleet-quarantine';
/** The folder of fleet-eb that its EventBridge rule announces; keys outside it raise no event. */
const EB_FOLDER = randomUUID();

type Json = Record<string, any>;

let moto: Moto | undefined;
let clamd: Awaited<ReturnType<typeof startTestClamd>> | undefined;
let s3: S3Client;
let sqs: SQSClient;
let sns: SNSClient;
let events: EventBridgeClient;
let dir: string;
const urls: Record<'inbound' | 'dlq' | 'validationA' | 'validationB' | 'inbox' | 'inboxB' | 'results', string> = {} as never;
let stopWorker: (() => Promise<void>) | undefined;
const logs = new LogSink();
const logger = createLogger('debug', 'bucketscan', logs.stream);

// A worker that dies is reported at once, not after a waitFor deadline.
const { fail: failWorker, until } = failFast(60_000);

const validationA = queueReader(
  () => sqs,
  () => urls.validationA,
  until,
);
const validationB = queueReader(
  () => sqs,
  () => urls.validationB,
  until,
);
const inbox = queueReader(
  () => sqs,
  () => urls.inbox,
  until,
);
const inboxB = queueReader(
  () => sqs,
  () => urls.inboxB,
  until,
);
const results = queueReader(
  () => sqs,
  () => urls.results,
  until,
);

const forwardedKey = (message: Message) => {
  const decoded = decodeEventKey(JSON.parse(message.Body!).Records[0].s3.object.key);
  return decoded.ok ? decoded.key : undefined;
};
const reportOf = (message: Message) => JSON.parse(JSON.parse(message.Body!).Message) as Json;
const resultOf = (message: Message) => JSON.parse(message.Body!) as Json;

function outcome(bucket: string, key: string, expected: string) {
  return until(`a "${expected}" outcome for s3://${bucket}/${key}`, () =>
    logs.find((line) => line['bucket'] === bucket && line['key'] === key && line['outcome'] === expected),
  );
}

async function put(bucket: string, key: string, body: Buffer | string) {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const exists = (bucket: string, key: string) => objectExists(s3, bucket, key);

async function text(bucket: string, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body!.transformToString('utf8');
}

before(async () => {
  ({ moto, clamd } = await startMotoAndClamd());
  const connection = { region: REGION, endpoint: moto!.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  sns = new SNSClient(connection);
  events = new EventBridgeClient(connection);
  const createQueue = (name: string, attributes: Record<string, string> = {}) => createQueueIn(sqs, name, attributes);
  const arnOf = (url: string) => queueArnIn(sqs, url);

  for (const bucket of [DIRECT, SNS_BUCKET, EB, QUARANTINE]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Versioned: its clean files are tagged (a tag needs the scanned version's id, which moto's EventBridge events carry).
  await s3.send(new PutBucketVersioningCommand({ Bucket: EB, VersioningConfiguration: { Status: 'Enabled' } }));

  urls.dlq = await createQueue('fleet-inbound-dlq');
  urls.inbound = await createQueue('fleet-inbound', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(urls.dlq), maxReceiveCount: '5' }),
  });
  urls.validationA = await createQueue('fleet-validation-a');
  urls.validationB = await createQueue('fleet-validation-b');
  urls.inbox = await createQueue('fleet-reports-inbox');
  urls.inboxB = await createQueue('fleet-reports-b-inbox');
  urls.results = await createQueue('fleet-results');
  const inboundArn = await arnOf(urls.inbound);

  // Quarantine reports: the global topic, and fleet-sns's own.
  const reportsTopic = (await sns.send(new CreateTopicCommand({ Name: 'fleet-reports' }))).TopicArn!;
  const reportsB = (await sns.send(new CreateTopicCommand({ Name: 'fleet-reports-b' }))).TopicArn!;
  await sns.send(new SubscribeCommand({ TopicArn: reportsTopic, Protocol: 'sqs', Endpoint: await arnOf(urls.inbox) }));
  await sns.send(new SubscribeCommand({ TopicArn: reportsB, Protocol: 'sqs', Endpoint: await arnOf(urls.inboxB) }));

  // fleet-direct: S3 -> SQS.
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: DIRECT,
      NotificationConfiguration: { QueueConfigurations: [{ Id: 'fleet-direct', QueueArn: inboundArn, Events: ['s3:ObjectCreated:*'] }] },
    }),
  );
  // fleet-sns: S3 -> SNS -> SQS, raw delivery off (the envelope).
  const s3Events = (await sns.send(new CreateTopicCommand({ Name: 'fleet-sns-events' }))).TopicArn!;
  await sns.send(new SubscribeCommand({ TopicArn: s3Events, Protocol: 'sqs', Endpoint: inboundArn }));
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: SNS_BUCKET,
      NotificationConfiguration: { TopicConfigurations: [{ Id: 'fleet-sns', TopicArn: s3Events, Events: ['s3:ObjectCreated:*'] }] },
    }),
  );
  // fleet-eb: S3 -> EventBridge (moto's native notifications) -> a rule for one folder -> SQS.
  await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: EB, NotificationConfiguration: { EventBridgeConfiguration: {} } }));
  await events.send(
    new PutRuleCommand({
      Name: 'fleet-eb-uploads',
      EventPattern: JSON.stringify({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [EB] }, object: { key: [{ prefix: `${EB_FOLDER}/` }] } },
      }),
    }),
  );
  await events.send(new PutTargetsCommand({ Rule: 'fleet-eb-uploads', Targets: [{ Id: 'inbound', Arn: inboundArn }] }));
  // bucketscan's result events, from the default bus to a queue.
  await events.send(
    new PutRuleCommand({
      Name: 'bucketscan-results',
      EventPattern: JSON.stringify({ source: ['bucketscan'], 'detail-type': ['Object Scan Result'] }),
    }),
  );
  await events.send(new PutTargetsCommand({ Rule: 'bucketscan-results', Targets: [{ Id: 'results', Arn: await arnOf(urls.results) }] }));

  dir = mkdtempSync(join(tmpdir(), 'bucketscan-fleet-'));
  const sourcesFile = join(dir, 'sources.yaml');
  writeFileSync(
    sourcesFile,
    [
      'sources:',
      `  - bucket: ${DIRECT}`,
      '    prefix: in/',
      '    keyLayout: submission',
      `    quarantineBucket: ${QUARANTINE}`,
      '    quarantinePrefix: direct/',
      '    validationQueue: fleet-validation-a',
      `  - bucket: ${SNS_BUCKET}`,
      '    prefix: scan/',
      '    keyLayout: any',
      `    quarantineBucket: ${QUARANTINE}`,
      '    quarantinePrefix: sns/',
      `    validationQueue: ${urls.validationB}`,
      `    notificationTopicArn: ${reportsB}`,
      `  - bucket: ${EB}`,
      `    quarantineBucket: ${QUARANTINE}`,
      '    quarantinePrefix: eventbridge/',
      '',
    ].join('\n'),
  );
  stopWorker = await startMotoWorker({
    moto: moto!,
    clamd: clamd!,
    logger,
    onFailure: failWorker,
    env: {
      SOURCES_FILE: sourcesFile,
      VIRUS_SCANNING_QUEUE_NAME: 'fleet-inbound',
      VIRUS_NOTIFICATION_TOPIC_ARN: reportsTopic,
      RESULT_EVENT_BUS: 'default',
    },
  });
  await until('the worker to start', () => logs.find((line) => line['msg'] === 'worker started'));
});

after(async () => {
  await stopWorker?.();
  s3?.destroy();
  sqs?.destroy();
  sns?.destroy();
  events?.destroy();
  await Promise.all([moto?.stop(), clamd?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('three buckets, three routes, one fleet', () => {
  test('the worker names every source and its resolved validation queue at start', () => {
    const started = logs.find((line) => line['msg'] === 'worker started')!;
    assert.deepEqual(
      (started['sources'] as Json[]).map((s) => [s['bucket'], s['prefix'], s['keyLayout'], s['validationQueue']]),
      [
        [DIRECT, 'in/', 'submission', urls.validationA],
        [SNS_BUCKET, 'scan/', 'any', urls.validationB],
        [EB, '', 'submission', null],
      ],
    );
    assert.equal(started['resultBus'], 'default');
  });

  test('S3 -> SQS, submission layout: clean forwarded to queue A, EICAR to direct/, a bad key left alone', async () => {
    const guid = randomUUID();
    const clean = `in/${guid}/hello world+1 ü.txt`;
    const infected = `in/${guid}/eicar.com`;
    const invalid = 'in/not-a-submission.txt';
    await put(DIRECT, clean, 'hello\n');
    await put(DIRECT, infected, eicar());
    await put(DIRECT, invalid, 'no folder\n');

    await outcome(DIRECT, clean, 'clean');
    const forwarded = await validationA.message('the clean file on queue A', (m) => forwardedKey(m) === clean);
    assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
    assert.equal(JSON.parse(forwarded.Body!).Records[0].s3.configurationId, 'fleet-direct', "moto's record, forwarded unchanged");

    await outcome(DIRECT, infected, 'infected');
    const report = reportOf(await inbox.message('the report on the global topic', (m) => reportOf(m)['key'] === infected));
    assert.equal(report['signature'], EICAR_SIGNATURE);
    assert.deepEqual(report['source'], { bucket: DIRECT, prefix: 'in/' });
    assert.equal(report['quarantine']['key'], `direct/${infected}`);
    assert.deepEqual(JSON.parse(await text(QUARANTINE, `direct/${infected}.report.json`)), report);
    await until('the infected file to leave its bucket', async () => ((await exists(DIRECT, infected)) ? undefined : true));

    const line = await outcome(DIRECT, invalid, 'invalid');
    assert.equal(line['reason'], 'object key has no "<submission_guid>/" folder');
    assert.equal(await exists(DIRECT, invalid), true, 'an invalid key touches nothing');
  });

  test('S3 -> SNS -> SQS, any layout: clean forwarded to queue B, EICAR to sns/ with its own topic, outside the folder refused', async () => {
    const clean = 'scan/deep/folders/any name + more ü.csv';
    const infected = `scan/${randomUUID()}/nested/eicar.com`;
    const outside = 'elsewhere/file.txt';
    await put(SNS_BUCKET, clean, 'a,b\n');
    await put(SNS_BUCKET, infected, eicar());
    await put(SNS_BUCKET, outside, 'outside\n');

    const cleanLine = await outcome(SNS_BUCKET, clean, 'clean');
    assert.equal(cleanLine['envelope'], 'sns');
    await validationB.message('the clean file on queue B', (m) => forwardedKey(m) === clean);

    await outcome(SNS_BUCKET, infected, 'infected');
    const report = reportOf(await inboxB.message("the report on fleet-sns's own topic", (m) => reportOf(m)['key'] === infected));
    assert.equal(report['submissionGuid'], null, 'the any layout has no submission GUID');
    assert.equal(report['filename'], 'eicar.com');
    assert.equal(report['quarantine']['key'], `sns/${infected}`);
    assert.equal(await exists(QUARANTINE, `sns/${infected}`), true);

    const line = await outcome(SNS_BUCKET, outside, 'invalid');
    assert.equal(line['reason'], 'object key is outside the unprocessed prefix "scan/"');
    assert.equal(await exists(SNS_BUCKET, outside), true);
  });

  test("EventBridge: moto's own events and an AWS-shaped one; clean files tagged and announced, never forwarded", async () => {
    const clean = `${EB_FOLDER}/annual report 2026 ü.pdf`;
    const infected = `${EB_FOLDER}/eicar.com`;
    const invalid = `${EB_FOLDER}/nested/folder.txt`;
    const cleanPut = await put(EB, clean, '%PDF-1.7\n');
    await put(EB, infected, eicar());
    await put(EB, invalid, 'nested\n');

    const cleanLine = await outcome(EB, clean, 'clean');
    assert.equal(cleanLine['shape'], 'eventbridge');
    assert.equal(cleanLine['statusTag'], 'CLEAN');
    assert.equal(cleanLine['msg'], 'clean: not forwarded (the source has no validation queue)');
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: EB, Key: clean, VersionId: cleanPut.VersionId }));
    assert.deepEqual(tags.TagSet, [{ Key: 'bucketscan-status', Value: 'CLEAN' }]);

    await outcome(EB, infected, 'infected');
    assert.equal(await exists(QUARANTINE, `eventbridge/${infected}`), true);
    await inbox.message('the report on the global topic', (m) => reportOf(m)['key'] === infected);

    const line = await outcome(EB, invalid, 'invalid');
    assert.equal(line['reason'], 'object key filename contains a slash (nested folders are not accepted)');

    // A key with "+" as AWS's EventBridge sends it (encoded), for an object outside the rule's folder (no moto event).
    const plus = `${randomUUID()}/a+b c++.txt`;
    const plusPut = await put(EB, plus, 'plus\n');
    const head = await s3.send(new HeadObjectCommand({ Bucket: EB, Key: plus }));
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: urls.inbound,
        MessageBody: JSON.stringify({
          version: '0',
          id: randomUUID(),
          'detail-type': 'Object Created',
          source: 'aws.s3',
          account: '123456789012',
          time: new Date().toISOString(),
          region: REGION,
          resources: [`arn:aws:s3:::${EB}`],
          detail: {
            version: '0',
            bucket: { name: EB },
            object: {
              key: encodeEventKey(plus),
              size: head.ContentLength,
              etag: head.ETag!.replace(/"/g, ''),
              'version-id': plusPut.VersionId,
            },
            'request-id': 'FLEETTEST',
            requester: '123456789012',
            reason: 'PutObject',
          },
        }),
      }),
    );
    const plusLine = await outcome(EB, plus, 'clean');
    assert.equal(plusLine['versionId'], plusPut.VersionId);

    // Nothing of fleet-eb reached either validation queue.
    const forwarded = [...(await validationA.received()), ...(await validationB.received())].map(
      (m) => JSON.parse(m.Body!).Records[0].s3.bucket.name,
    );
    assert.ok(!forwarded.includes(EB), 'a source without a validation queue forwards nothing');
  });

  test('every verdict arrives on the result rule with the GuardDuty-shaped fields', async () => {
    const all = async () => (await results.received()).map(resultOf);
    const found = await until('seven result events', async () => {
      const got = await all();
      return got.length >= 7 ? got : undefined;
    });
    for (const event of found) {
      assert.equal(event['source'], 'bucketscan');
      assert.equal(event['detail-type'], 'Object Scan Result');
      assert.equal(event['detail']['schemaVersion'], '1.0');
      assert.equal(event['detail']['resourceType'], 'S3_OBJECT');
      assert.match(String(event['detail']['engine']?.['raw']), /^ClamAV /);
    }
    const byOutcome = (outcomeName: string) => found.filter((e) => e['detail']['outcome'] === outcomeName).map((e) => e['detail']);
    assert.equal(byOutcome('clean').length, 4);
    assert.equal(byOutcome('infected').length, 3);
    for (const detail of byOutcome('clean')) {
      assert.equal(detail['scanStatus'], 'COMPLETED');
      assert.deepEqual(detail['scanResultDetails'], { scanResultStatus: 'NO_THREATS_FOUND', threats: null });
      assert.equal(detail['quarantine'], null);
    }
    for (const detail of byOutcome('infected')) {
      assert.equal(detail['scanStatus'], 'COMPLETED');
      assert.deepEqual(detail['scanResultDetails'], { scanResultStatus: 'THREATS_FOUND', threats: [{ name: EICAR_SIGNATURE }] });
      // The test set's EICAR signature is an .hdb of the project's own fixtures: not ClamAV's.
      assert.equal(detail['signatureOrigin'], 'third-party');
      assert.ok(String(detail['quarantine']['key']).endsWith('eicar.com'));
    }
    // The object and its source, as a GuardDuty consumer reads them.
    const ebClean = found
      .map((e) => e['detail'])
      .find((d) => d['s3ObjectDetails']['objectKey'] === `${EB_FOLDER}/annual report 2026 ü.pdf`);
    assert.equal(ebClean?.['s3ObjectDetails']['bucketName'], EB);
    assert.equal(typeof ebClean?.['s3ObjectDetails']['versionId'], 'string');
    assert.deepEqual(ebClean?.['source'], { bucket: EB, prefix: '' });
    assert.deepEqual(new Set(found.map((e) => e['detail']['source']['bucket'])), new Set([DIRECT, SNS_BUCKET, EB]));
  });

  test('every message was settled: the inbound queue is empty, nothing dead-lettered', async () => {
    await until('the inbound queue to be empty', async () => ((await queueDepthOf(sqs, urls.inbound)) === 0 ? true : undefined));
    assert.equal(await queueDepthOf(sqs, urls.dlq), 0);
    assert.deepEqual(
      logs.lines.filter((line) => line['outcome'] === 'retry' || line['level'] === 'error').map((line) => line['msg']),
      [],
    );
  });
});
