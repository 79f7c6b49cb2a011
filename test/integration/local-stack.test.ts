import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startFauxqs } from 'fauxqs';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { silentLogger, type Logger } from '../../src/log/logger.ts';
import { startEmulator, type Emulator, type LocalResources } from '../../src/local/emulator.ts';
import { startNotificationBridge } from '../../src/local/notification-bridge.ts';
import { encodeEventKey, type S3EventDocument, type S3EventRecord } from '../../src/events/s3-event.ts';
import { RESOURCES } from '../support/stack.ts';
import { listeningAddresses } from '../support/listening.ts';

// Another region than the default on purpose: ARNs and URLs must follow it.
const resources: LocalResources = { ...RESOURCES, region: 'eu-west-2' };

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const MiB = 1024 * 1024;

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

function captureLogs(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('local stack emulator', () => {
  let emulator: Emulator;
  let s3: S3Client;
  let sqs: SQSClient;
  let sns: SNSClient;

  before(async () => {
    emulator = await startEmulator({ port: 0, resources, logger: silentLogger() });
    const config = { endpoint: emulator.endpoint, region: resources.region, credentials };
    s3 = new S3Client({ ...config, forcePathStyle: true });
    sqs = new SQSClient(config);
    sns = new SNSClient(config);
  });

  after(async () => {
    s3.destroy();
    sqs.destroy();
    sns.destroy();
    await emulator.stop();
  });

  it('listens on loopback only: it accepts well-known credentials', () => {
    assert.deepEqual(listeningAddresses(emulator.server.port), ['127.0.0.1']);
  });

  /** Receives and deletes everything on a queue; only meaningful after bridge.idle(). */
  async function drain(queueUrl: string): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) return bodies;
      for (const message of Messages) {
        bodies.push(message.Body ?? '');
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
    }
  }

  /**
   * Every event the bridge will ever produce for uploads that have already returned.
   * The first is awaited with a long poll, the way the worker receives; idle() then
   * makes "and nothing else" a fact rather than a guess about timing.
   */
  async function takeInboundEvents(): Promise<S3EventRecord[]> {
    const queueUrl = emulator.queueUrls.inbound;
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 5 }));
    const bodies: string[] = [];
    for (const message of first.Messages ?? []) {
      bodies.push(message.Body ?? '');
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
    await emulator.bridge.idle();
    bodies.push(...(await drain(queueUrl)));
    return bodies.flatMap((body) => (JSON.parse(body) as S3EventDocument).Records);
  }

  async function takeSingleEvent(): Promise<S3EventRecord> {
    const records = await takeInboundEvents();
    assert.equal(records.length, 1, `expected exactly one event, got ${JSON.stringify(records)}`);
    const [record] = records;
    assert.ok(record);
    return record;
  }

  it('reports an endpoint and queue URLs that SDK clients can use as given', async () => {
    assert.match(emulator.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const [role, url] of Object.entries(emulator.queueUrls)) {
      assert.ok(url.startsWith(`${emulator.endpoint}/`), `${role} URL ${url} is not under the endpoint`);
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
      assert.match(Attributes?.['QueueArn'] ?? '', new RegExp(`^arn:aws:sqs:${resources.region}:000000000000:`));
    }
    assert.equal(emulator.topicArn, `arn:aws:sns:${resources.region}:000000000000:${resources.topicName}`);
  });

  it('gives the inbound queue a redrive policy to the dead-letter queue', async () => {
    const { Attributes: dlq } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: emulator.queueUrls.deadLetter, AttributeNames: ['QueueArn'] }),
    );
    const { Attributes: inbound } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: emulator.queueUrls.inbound, AttributeNames: ['RedrivePolicy'] }),
    );
    const policy = JSON.parse(inbound?.['RedrivePolicy'] ?? '{}') as Record<string, unknown>;
    assert.equal(policy['deadLetterTargetArn'], dlq?.['QueueArn']);
    assert.equal(Number(policy['maxReceiveCount']), resources.maxReceiveCount);
  });

  it('turns a PutObject into one ObjectCreated:Put event with S3 key encoding', async () => {
    const key = `${randomUUID()}/quarterly report +v2 (ünïcødé) 日本.pdf`;
    const body = 'not really a pdf';
    const put = await s3.send(new PutObjectCommand({ Bucket: resources.unprocessedBucket, Key: key, Body: body }));

    const record = await takeSingleEvent();
    assert.equal(record.eventName, 'ObjectCreated:Put');
    assert.equal(record.awsRegion, resources.region);
    assert.equal(record.s3.bucket.name, resources.unprocessedBucket);
    assert.equal(record.s3.object.key, encodeEventKey(key));
    assert.match(record.s3.object.key, /\+%2Bv2\+/);
    assert.equal(decodeURIComponent(record.s3.object.key.replace(/\+/g, ' ')), key);
    assert.equal(record.s3.object.size, Buffer.byteLength(body));
    assert.equal(record.s3.object.eTag, md5(body));
    assert.equal(`"${record.s3.object.eTag}"`, put.ETag);
    assert.equal('versionId' in record.s3.object, false);
  });

  it('turns a completed multipart upload into ObjectCreated:CompleteMultipartUpload', async () => {
    const key = `${randomUUID()}/big.bin`;
    const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(5 * MiB, 2)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: resources.unprocessedBucket, Key: key }));
    const uploaded = [];
    for (const [index, part] of parts.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: resources.unprocessedBucket, Key: key, UploadId, PartNumber: index + 1, Body: part }),
      );
      uploaded.push({ PartNumber: index + 1, ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: resources.unprocessedBucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: uploaded },
      }),
    );

    const record = await takeSingleEvent();
    const expectedETag = `${md5(Buffer.concat(parts.map((part) => createHash('md5').update(part).digest())))}-2`;
    assert.equal(record.eventName, 'ObjectCreated:CompleteMultipartUpload');
    assert.equal(record.s3.object.key, encodeEventKey(key));
    assert.equal(record.s3.object.size, 10 * MiB);
    assert.equal(record.s3.object.eTag, expectedETag);
  });

  it('turns a CopyObject into the bucket into one ObjectCreated:Copy event', async () => {
    const sourceKey = `source/${randomUUID()} copy me.txt`;
    const key = `${randomUUID()}/copied+file.txt`;
    await s3.send(new PutObjectCommand({ Bucket: resources.quarantineBucket, Key: sourceKey, Body: 'copy body' }));
    await s3.send(
      new CopyObjectCommand({
        Bucket: resources.unprocessedBucket,
        Key: key,
        CopySource: `${resources.quarantineBucket}/${encodeURIComponent(sourceKey)}`,
      }),
    );

    const record = await takeSingleEvent();
    assert.equal(record.eventName, 'ObjectCreated:Copy');
    assert.equal(record.s3.object.key, encodeEventKey(key));
    assert.equal(record.s3.object.size, Buffer.byteLength('copy body'));
    assert.equal(record.s3.object.eTag, md5('copy body'));
  });

  it('turns a presigned POST upload into exactly one ObjectCreated:Post event', async () => {
    const folder = randomUUID();
    const form = new FormData();
    // The fields a presigned POST carries; the emulator does not check the policy.
    form.set('key', `${folder}/\${filename}`);
    form.set('Content-Type', 'text/plain');
    form.set('success_action_status', '201');
    form.set('x-amz-algorithm', 'AWS4-HMAC-SHA256');
    form.set('x-amz-credential', `test/20260101/${resources.region}/s3/aws4_request`);
    form.set('x-amz-date', '20260101T000000Z');
    form.set('policy', Buffer.from('{"conditions":[]}').toString('base64'));
    form.set('x-amz-signature', '0'.repeat(64));
    // S3 ignores every field after the file, so it goes last.
    form.set('file', new Blob(['posted body']), 'hello world.txt');

    const response = await fetch(`${emulator.endpoint}/${resources.unprocessedBucket}`, { method: 'POST', body: form });
    assert.equal(response.status, 201, await response.text());

    const record = await takeSingleEvent();
    assert.equal(record.eventName, 'ObjectCreated:Post');
    assert.equal(record.s3.object.key, `${folder}/hello+world.txt`);
    assert.equal(record.s3.object.size, Buffer.byteLength('posted body'));
    assert.equal(record.s3.object.eTag, md5('posted body'));
  });

  it('raises nothing for objects created in another bucket', async () => {
    await s3.send(new PutObjectCommand({ Bucket: resources.quarantineBucket, Key: 'elsewhere.txt', Body: 'x' }));
    // A later upload to the watched bucket: had the first produced an event, it
    // would be on the queue by the time this one's is.
    const key = `${randomUUID()}/marker.txt`;
    await s3.send(new PutObjectCommand({ Bucket: resources.unprocessedBucket, Key: key, Body: 'marker' }));

    const record = await takeSingleEvent();
    assert.equal(record.s3.object.key, encodeEventKey(key));
  });

  it('keeps raising events after the emulator is reset', async () => {
    emulator.server.reset();
    const key = `${randomUUID()}/after-reset.txt`;
    await s3.send(new PutObjectCommand({ Bucket: resources.unprocessedBucket, Key: key, Body: 'again' }));

    const record = await takeSingleEvent();
    assert.equal(record.s3.object.key, encodeEventKey(key));
  });

  it('delivers topic publications to the notification queue in an SNS envelope', async () => {
    const message = JSON.stringify({ file: 'x.pdf', status: 'infected' });
    const { MessageId } = await sns.send(new PublishCommand({ TopicArn: emulator.topicArn, Message: message, Subject: 'scan result' }));

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emulator.queueUrls.notification, MaxNumberOfMessages: 1, WaitTimeSeconds: 5 }),
    );
    assert.equal(Messages.length, 1);
    const envelope = JSON.parse(Messages[0]?.Body ?? '{}') as Record<string, unknown>;
    assert.equal(envelope['Type'], 'Notification');
    assert.equal(envelope['MessageId'], MessageId);
    assert.equal(envelope['TopicArn'], emulator.topicArn);
    assert.equal(envelope['Subject'], 'scan result');
    assert.equal(envelope['Message'], message);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: emulator.queueUrls.notification, ReceiptHandle: Messages[0]?.ReceiptHandle }));
  });

  describe('bridge options and failures', () => {
    it('only raises events for keys under the prefix', async () => {
      const queueName = `prefix-${randomUUID()}`;
      emulator.server.createQueue(queueName);
      const queueUrl = `${emulator.endpoint}/000000000000/${queueName}`;
      const bridge = startNotificationBridge({
        server: emulator.server,
        s3,
        bucket: resources.quarantineBucket,
        queueName,
        region: resources.region,
        prefix: 'incoming/',
        logger: silentLogger(),
      });
      try {
        await s3.send(new PutObjectCommand({ Bucket: resources.quarantineBucket, Key: 'outgoing/a.txt', Body: 'a' }));
        await s3.send(new PutObjectCommand({ Bucket: resources.quarantineBucket, Key: 'incoming/b.txt', Body: 'b' }));
        await bridge.idle();
        const keys = (await drain(queueUrl)).flatMap((body) =>
          (JSON.parse(body) as S3EventDocument).Records.map((record) => record.s3.object.key),
        );
        assert.deepEqual(keys, ['incoming/b.txt']);
      } finally {
        bridge.stop();
      }
    });

    it('logs and skips an object it cannot find, and survives a missing queue', async () => {
      // HEADs go to a second, empty emulator, so the object is "gone" by then.
      const elsewhere = await startFauxqs({ port: 0, logger: false, init: {} });
      elsewhere.createBucket(resources.quarantineBucket);
      const elsewhereS3 = new S3Client({
        endpoint: `http://127.0.0.1:${elsewhere.port}`,
        region: resources.region,
        forcePathStyle: true,
        credentials,
      });
      const vanished = captureLogs();
      const vanishedBridge = startNotificationBridge({
        server: emulator.server,
        s3: elsewhereS3,
        bucket: resources.quarantineBucket,
        queueName: resources.validationQueueName,
        region: resources.region,
        logger: vanished.logger,
      });
      const unsendable = captureLogs();
      const unsendableBridge = startNotificationBridge({
        server: emulator.server,
        s3,
        bucket: resources.quarantineBucket,
        queueName: 'no-such-queue',
        region: resources.region,
        logger: unsendable.logger,
      });
      try {
        const put = s3.send(new PutObjectCommand({ Bucket: resources.quarantineBucket, Key: 'ghost.txt', Body: 'boo' }));
        await assert.doesNotReject(put, 'a failing bridge must not fail the upload');
        await vanishedBridge.idle();
        await unsendableBridge.idle();

        assert.deepEqual(await drain(emulator.queueUrls.validation), []);
        assert.ok(vanished.lines.some((line) => line['level'] === 40 && line['key'] === 'ghost.txt'));
        assert.ok(unsendable.lines.some((line) => line['level'] === 50 && line['key'] === 'ghost.txt'));
      } finally {
        vanishedBridge.stop();
        unsendableBridge.stop();
        elsewhereS3.destroy();
        await elsewhere.stop();
      }
    });
  });
});

describe('local stack emulator with a test event', () => {
  it('queues the s3:TestEvent before any object event', async () => {
    const emulator = await startEmulator({ port: 0, resources, logger: silentLogger(), sendTestEvent: true });
    const sqs = new SQSClient({ endpoint: emulator.endpoint, region: resources.region, credentials });
    try {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: emulator.queueUrls.inbound, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }),
      );
      assert.equal(Messages.length, 1);
      const body = JSON.parse(Messages[0]?.Body ?? '{}') as Record<string, unknown>;
      assert.equal(body['Event'], 's3:TestEvent');
      assert.equal(body['Bucket'], resources.unprocessedBucket);
    } finally {
      sqs.destroy();
      await emulator.stop();
    }
  });
});
