// Per-source file rules on moto_server (issue 16 §3): one worker, one bucket with
// two sources, S3 -> SQS. The "typed/" folder allows PNG and PDF only, up to 1 MB;
// the "open/" folder has no rules. A PE executable named invoice.pdf is
// quarantined as DISALLOWED_TYPE with the detected type in its report and an
// UNSUPPORTED result event; an allowed PNG is scanned and forwarded; a file over
// the folder's size is TOO_LARGE; the same executable in "open/" is scanned as
// before (clamd finds nothing in it: clean).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectTaggingCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SQSClient, type Message } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { decodeEventKey } from '../../src/events/key.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startMotoAndClamd, startMotoWorker, type Moto } from '../support/moto.ts';
import { createQueue, queueArn } from '../support/moto-notifications.ts';
import { peExecutable, png } from '../support/samples.ts';
import { LogSink, objectExists, REGION, type startTestClamd } from '../support/stack.ts';
import { failFast } from '../support/wait.ts';
import { queueReader } from '../support/queue-reader.ts';

const BUCKET = 'rules-uploads';
const QUARANTINE = 'rules-quarantine';
type Json = Record<string, any>;

let moto: Moto | undefined;
let clamd: Awaited<ReturnType<typeof startTestClamd>> | undefined;
let s3: S3Client;
let sqs: SQSClient;
let sns: SNSClient;
let events: EventBridgeClient;
const urls: Record<'inbound' | 'validation' | 'inbox' | 'results', string> = {} as never;
let stopWorker: (() => Promise<void>) | undefined;
const logs = new LogSink();
const logger = createLogger('debug', 'bucketscan', logs.stream);
const { fail: failWorker, until } = failFast(60_000);

const validation = queueReader(
  () => sqs,
  () => urls.validation,
  until,
);
const inbox = queueReader(
  () => sqs,
  () => urls.inbox,
  until,
);
const results = queueReader(
  () => sqs,
  () => urls.results,
  until,
);
const reportOf = (message: Message) => JSON.parse(JSON.parse(message.Body!).Message) as Json;
const resultOf = (message: Message) => JSON.parse(message.Body!) as Json;
const forwardedKey = (message: Message) => {
  const decoded = decodeEventKey(JSON.parse(message.Body!).Records[0].s3.object.key);
  return decoded.ok ? decoded.key : undefined;
};
const outcome = (key: string, expected: string) =>
  until(`a "${expected}" outcome for ${key}`, () => logs.find((line) => line['key'] === key && line['outcome'] === expected));
const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

before(async () => {
  ({ moto, clamd } = await startMotoAndClamd());
  const connection = { region: REGION, endpoint: moto!.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  sns = new SNSClient(connection);
  events = new EventBridgeClient(connection);
  for (const bucket of [BUCKET, QUARANTINE]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  urls.inbound = await createQueue(sqs, 'rules-inbound');
  urls.validation = await createQueue(sqs, 'rules-validation');
  urls.inbox = await createQueue(sqs, 'rules-reports-inbox');
  urls.results = await createQueue(sqs, 'rules-results');
  const topic = (await sns.send(new CreateTopicCommand({ Name: 'rules-reports' }))).TopicArn!;
  await sns.send(new SubscribeCommand({ TopicArn: topic, Protocol: 'sqs', Endpoint: await queueArn(sqs, urls.inbox) }));
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: BUCKET,
      NotificationConfiguration: {
        QueueConfigurations: [{ Id: 'rules', QueueArn: await queueArn(sqs, urls.inbound), Events: ['s3:ObjectCreated:*'] }],
      },
    }),
  );
  await events.send(
    new PutRuleCommand({
      Name: 'rules-results',
      EventPattern: JSON.stringify({ source: ['bucketscan'], 'detail-type': ['Object Scan Result'] }),
    }),
  );
  await events.send(new PutTargetsCommand({ Rule: 'rules-results', Targets: [{ Id: 'results', Arn: await queueArn(sqs, urls.results) }] }));

  const common = { bucket: BUCKET, quarantineBucket: QUARANTINE, validationQueue: 'rules-validation' };
  stopWorker = await startMotoWorker({
    moto: moto!,
    clamd: clamd!,
    logger,
    onFailure: failWorker,
    env: {
      SOURCES: JSON.stringify({
        sources: [
          { ...common, prefix: 'typed/', quarantinePrefix: 'typed/', allowTypes: ['png', 'pdf'], maxFileSize: 1 },
          { ...common, prefix: 'open/', quarantinePrefix: 'open/' },
        ],
      }),
      VIRUS_SCANNING_QUEUE_NAME: 'rules-inbound',
      VIRUS_NOTIFICATION_TOPIC_ARN: topic,
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
});

test('a PE executable named .pdf is DISALLOWED_TYPE: quarantined with its detected type, UNSUPPORTED in the result event', async () => {
  const key = `typed/${randomUUID()}/invoice.pdf`;
  await put(key, peExecutable());
  await outcome(key, 'disallowed-type');
  const report = reportOf(await inbox.message('its report', (m) => reportOf(m)['key'] === key));
  assert.equal(report['status'], 'DISALLOWED_TYPE');
  assert.equal(report['reason'], 'file type not allowed');
  assert.deepEqual(report['detectedType'], { ext: 'exe', mime: 'application/x-msdownload' });
  assert.match(report['detail'], /named \.pdf, is exe .* does not match the extension of its name/);
  assert.equal(report['signature'], null);
  assert.equal(report['quarantine']['key'], `typed/${key}`);
  const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: QUARANTINE, Key: `typed/${key}` }));
  assert.deepEqual(tags.TagSet, [{ Key: 'bucketscan-status', Value: 'DISALLOWED_TYPE' }]);
  await until('the file to leave the uploads', async () => ((await objectExists(s3, BUCKET, key)) ? undefined : true));
  const event = resultOf(
    await results.message('its result event', (m) => resultOf(m)['detail']?.['s3ObjectDetails']?.['objectKey'] === key),
  );
  assert.equal(event['detail']['scanStatus'], 'SKIPPED');
  assert.equal(event['detail']['scanResultDetails']['scanResultStatus'], 'UNSUPPORTED');
  assert.equal(event['detail']['status'], 'DISALLOWED_TYPE');
});

test('an allowed PNG is scanned and forwarded; a file over the folder size is TOO_LARGE; a folder without rules scans every type', async () => {
  const image = `typed/${randomUUID()}/photo.png`;
  const big = `typed/${randomUUID()}/scan.pdf`;
  const open = `open/${randomUUID()}/setup.pdf`;
  await put(image, png());
  await put(big, Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(1024 * 1024 + 1, 0x20)]));
  await put(open, peExecutable());

  await outcome(image, 'clean');
  const forwarded = await validation.message('the PNG on the validation queue', (m) => forwardedKey(m) === image);
  assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');

  await outcome(big, 'too-large');
  const report = reportOf(await inbox.message('the large file report', (m) => reportOf(m)['key'] === big));
  assert.equal(report['status'], 'TOO_LARGE');

  await outcome(open, 'clean');
  await validation.message('the untyped folder file on the validation queue', (m) => forwardedKey(m) === open);
});
