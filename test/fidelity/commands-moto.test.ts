// `bucketscan rescan` and `dlq` against moto_server, which (unlike the fauxqs
// emulator) implements S3 versioning and moves messages to a dead-letter queue by
// its own redrive logic:
// - rescan of a versioned bucket: ListObjectVersions' current versions, their
//   VersionIds in the events, objects whose latest entry is a delete marker left out;
// - the dead-letter queue keeps the MessageId a message had on the inbound queue;
// - moto 5.x has no message move tasks (a 500 HTML page), so redrive falls back to
//   receive, send, delete.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord } from '../../src/events/record.ts';
import { endpointEnv, runCli } from '../support/cli.ts';
import { startMoto, type Moto } from '../support/moto.ts';
import { expectFixture, startIamRecorder, type IamRecorder } from '../support/iam-recorder.ts';
import { drainQueue } from '../support/queue.ts';
import { waitFor } from '../support/wait.ts';

const MAX_RECEIVES = 2;
let moto: Moto | undefined;
/** The commands reach moto through it (deploy/test/iam.test.ts evaluates what it records). */
let recorder: IamRecorder | undefined;
let s3: S3Client;
let sqs: SQSClient;
let inboundUrl: string;
let dlqUrl: string;
let env: Record<string, string>;

before(async () => {
  moto = await startMoto();
  const connection = { region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  for (const bucket of ['unprocessed', 'quarantine', 'uploads-unversioned']) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'unprocessed', VersioningConfiguration: { Status: 'Enabled' } }));
  dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'virus-scanning-dlq' }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes![
    'QueueArn'
  ]!;
  inboundUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'virus-scanning',
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(MAX_RECEIVES) }) },
      }),
    )
  ).QueueUrl!;
  recorder = await startIamRecorder(moto.endpoint, {
    // uploads-unversioned: the uploads bucket as someone forgot to set it up (the policy command's warning).
    buckets: { unprocessed: '{unprocessed}', 'uploads-unversioned': '{unprocessed}', quarantine: '{quarantine}' },
    queues: { 'virus-scanning-dlq': '{deadLetters}', 'virus-scanning': '{inbound}' },
    topics: {},
    statusTag: 'bucketscan-status',
  });
  env = endpointEnv(recorder.endpoint);
});

after(async () => {
  s3?.destroy();
  sqs?.destroy();
  await recorder?.stop();
  await moto?.stop();
});

const drain = (url: string): Promise<Message[]> => drainQueue(sqs, url);

describe('rescan of a versioned bucket', () => {
  test('queues the current version of each object with its VersionId; deleted objects are left out', async () => {
    const guid = randomUUID();
    const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: `${guid}/${key}`, Body: body }));
    await put('a.txt', 'first version');
    const latestA = await put('a.txt', 'second, longer version');
    const onlyB = await put('b.txt', 'b');
    await put('gone.txt', 'deleted later');
    await s3.send(new DeleteObjectCommand({ Bucket: 'unprocessed', Key: `${guid}/gone.txt` }));

    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(summary['listed'], 2);
    assert.equal(summary['queued'], 2);

    const targets = (await drain(inboundUrl)).map((message) => {
      assert.equal(message.MessageAttributes?.['bucketscan-origin']?.StringValue, 'rescan');
      const parsed = parseMessageBody(message.Body);
      assert.equal(parsed.kind, 'records');
      if (parsed.kind !== 'records') throw new Error('unreachable');
      const check = checkRecord(parsed.records[0], { bucket: 'unprocessed', prefix: '' });
      assert.equal(check.ok, true, check.ok ? '' : check.reason);
      if (!check.ok) throw new Error('unreachable');
      return check.target;
    });
    const byKey = new Map(targets.map((target) => [target.key, target]));
    assert.deepEqual([...byKey.keys()].sort(), [`${guid}/a.txt`, `${guid}/b.txt`]);
    assert.equal(byKey.get(`${guid}/a.txt`)!.versionId, latestA.VersionId);
    assert.equal(byKey.get(`${guid}/a.txt`)!.size, 'second, longer version'.length);
    assert.equal(byKey.get(`${guid}/a.txt`)!.eTag, latestA.ETag!.replace(/"/g, ''));
    assert.equal(byKey.get(`${guid}/b.txt`)!.versionId, onlyB.VersionId);

    // --start-after on a versioned listing (KeyMarker) resumes after that key.
    const resumed = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--start-after', `${guid}/a.txt`, '--json'], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((JSON.parse(resumed.stdout) as Record<string, unknown>)['queued'], 1);
    assert.deepEqual((await drain(inboundUrl)).length, 1);
  });
});

describe('dlq against moto', () => {
  test('a dead-lettered message keeps its MessageId; list shows it; redrive falls back and moves it exactly once', async () => {
    const body = JSON.stringify({
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: { bucket: { name: 'unprocessed' }, object: { key: `${randomUUID()}/x.txt`, size: 1 } },
        },
      ],
    });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: inboundUrl, MessageBody: body }));
    // A worker failing it on every receive, until moto's redrive moves it.
    await waitFor('the message in the dead-letter queue', async () => {
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: inboundUrl, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return Number(attributes.Attributes?.ApproximateNumberOfMessages) > 0 ? true : undefined;
    });

    const listed = await runCli(['dlq', 'list', '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const [line, ...rest] = listed.stdout.trimEnd().split('\n');
    assert.equal(rest.length, 0);
    const entry = JSON.parse(line!) as Record<string, any>;
    assert.equal(entry['messageId'], sent.MessageId, 'the MessageId the worker logged on the inbound queue');
    assert.ok(entry['receiveCount'] > MAX_RECEIVES);

    const redriven = await runCli(['dlq', 'redrive'], env);
    assert.equal(redriven.code, 0, redriven.stderr);
    assert.match(redriven.stderr, /no SQS message move tasks/);
    assert.match(redriven.stdout, /^moved 1 message from "virus-scanning-dlq" to "virus-scanning"/);
    assert.deepEqual((await drain(dlqUrl)).length, 0);
    const back = await drain(inboundUrl);
    assert.equal(back.length, 1);
    assert.equal(back[0]!.Body, body);
  });
});

describe('policy checks the bucket it is for', () => {
  const role = 'arn:aws:iam::123456789012:role/scanner';
  test('an unversioned bucket gets a warning on stderr, with the command that fixes it; the policy is printed all the same', async () => {
    const result = await runCli(['policy', '--bucket', 'uploads-unversioned', '--scanner-role', role], env);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(JSON.parse(result.stdout).Statement.length > 0);
    assert.match(
      result.stderr,
      /^policy: warning: bucket uploads-unversioned is not versioned \(versioning never enabled\).*put-bucket-versioning --bucket uploads-unversioned/,
    );
  });

  test('a versioned bucket gets no warning', async () => {
    const result = await runCli(['policy', '--bucket', 'unprocessed', '--scanner-role', role], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
  });

  test('with SOURCES_FILE, each bucket is checked: the one unversioned bucket, and only it, gets the warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bucketscan-policy-'));
    const sources = join(dir, 'sources.json');
    writeFileSync(
      sources,
      JSON.stringify({
        sources: [
          { bucket: 'unprocessed', quarantineBucket: 'quarantine', quarantinePrefix: 'a/' },
          { bucket: 'uploads-unversioned', quarantineBucket: 'quarantine', quarantinePrefix: 'b/' },
        ],
      }),
    );
    const result = await runCli(['policy', '--scanner-role', role], { ...env, SOURCES_FILE: sources });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout) as object), ['unprocessed', 'uploads-unversioned']);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^policy: warning: bucket uploads-unversioned is not versioned/);
  });
});

// Last: what the commands called in the tests above, as IAM sees it, is what the IAM proof evaluates.
test('every AWS call the commands made is listed for the IAM proof (deploy/test/iam/operator.json)', () => {
  expectFixture('operator', recorder!.calls());
});
