// The chaos proxy's faults must look to the SDK like the real thing: each one
// retried as AWS would have it retried, and a body cut off part-way must fail the
// read rather than end as a shorter file (that would be scanned as a whole file).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { RESOURCES } from '../support/stack.ts';
import { startFaultProxy, type FaultKind, type FaultProxy } from '../../harness/aws-proxy.ts';
import { Random } from '../../harness/random.ts';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('fault proxy', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
    await new S3Client({ region: 'us-east-1', endpoint: emulator.endpoint, forcePathStyle: true, credentials }).send(
      new PutObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: 'k/file.bin', Body: Buffer.alloc(256 * 1024, 7) }),
    );
  });
  after(async () => {
    await emulator?.stop();
  });

  async function withProxy<T>(operation: string, kind: FaultKind, run: (proxy: FaultProxy) => Promise<T>): Promise<T> {
    const proxy = await startFaultProxy({ target: emulator.endpoint, random: new Random(1), force: { operation, kind } });
    try {
      return await run(proxy);
    } finally {
      await proxy.stop();
    }
  }

  const clients = (endpoint: string) => ({
    s3: new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials, maxAttempts: 3 }),
    sqs: new SQSClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 3 }),
    sns: new SNSClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 3 }),
  });

  const retried: Array<[string, FaultKind, string]> = [
    ['s3:GetObject', 'throttle', 'SlowDown'],
    ['s3:GetObject', 'http-500', 'InternalError'],
    ['s3:GetObject', 'http-503', 'ServiceUnavailable'],
    ['s3:GetObject', 'reset-request', ''],
    ['sqs:SendMessage', 'throttle', 'RequestThrottled'],
    ['sqs:SendMessage', 'http-500', 'InternalError'],
    ['sqs:SendMessage', 'reset-request', ''],
    ['sqs:SendMessage', 'reset-response', ''],
    ['sqs:SendMessage', 'error-after', 'InternalError'],
    ['sns:Publish', 'throttle', 'Throttling'],
    ['sns:Publish', 'http-503', 'ServiceUnavailable'],
  ];
  for (const [key, kind, name] of retried) {
    test(`${kind} on ${key} is retried by the SDK${name ? ` as ${name}` : ''}`, async () => {
      const [service, operation] = key.split(':') as [string, string];
      await withProxy(operation, kind, async (proxy) => {
        const c = clients(proxy.endpoint);
        const queued = () => emulator.server.inspectQueue(RESOURCES.validationQueueName)!.messages.ready.length;
        const queuedBefore = queued();
        const call =
          service === 's3'
            ? c.s3.send(new GetObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: 'k/file.bin' }))
            : service === 'sqs'
              ? c.sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls.validation, MessageBody: 'x' }))
              : c.sns.send(new PublishCommand({ TopicArn: emulator.topicArn, Message: 'x' }));
        const error = await call.then(
          () => assert.fail('the call should fail'),
          (e: unknown) => e as Error & { $metadata?: { attempts?: number } },
        );
        if (name) assert.equal(error.name, name);
        assert.equal(error.$metadata?.attempts, 3, `retried: ${error.name} ${error.message}`);
        assert.equal(proxy.stats.byOperation[key]?.requests, 3);
        if (service === 'sqs') {
          // Applied faults reach the emulator every time; the others never do.
          const applied = kind === 'reset-response' || kind === 'error-after';
          assert.equal(queued() - queuedBefore, applied ? 3 : 0);
        }
        c.s3.destroy();
        c.sqs.destroy();
        c.sns.destroy();
      });
    });
  }

  test('partial-batch: some entries of a SendMessageBatch fail, and only the others reach the queue', async () => {
    await withProxy('SendMessageBatch', 'partial-batch', async (proxy) => {
      const c = clients(proxy.endpoint);
      const queued = () => emulator.server.inspectQueue(RESOURCES.validationQueueName)!.messages.ready.length;
      const before = queued();
      const result = await c.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: emulator.queueUrls.validation,
          Entries: Array.from({ length: 6 }, (_, i) => ({ Id: String(i), MessageBody: `m${i}` })),
        }),
      );
      const failed = result.Failed ?? [];
      assert.ok(failed.length >= 1, 'at least one entry failed');
      assert.equal((result.Successful ?? []).length + failed.length, 6);
      assert.equal(queued() - before, 6 - failed.length, 'failed entries were not applied');
      c.sqs.destroy();
    });
  });

  for (const kind of ['truncate-reset', 'truncate-close'] as const) {
    test(`${kind}: a GetObject body cut off part-way fails the read`, async () => {
      await withProxy('GetObject', kind, async (proxy) => {
        const c = clients(proxy.endpoint);
        for (let i = 0; i < 5; i++) {
          const failed = await (async () => {
            const response = await c.s3.send(new GetObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: 'k/file.bin' }));
            let bytes = 0;
            for await (const chunk of response.Body as AsyncIterable<Uint8Array>) bytes += chunk.length;
            return `read ${bytes} bytes`;
          })().then(
            (result) => assert.fail(`a truncated body ended cleanly: ${result}`),
            (error: unknown) => error as Error,
          );
          assert.ok(failed instanceof Error);
        }
        c.s3.destroy();
      });
    });
  }

  // The benchmark's latency mode (bench/network.ts): faults off, a fixed delay on every request.
  test('with faults off and a latency, every request goes through unchanged and is reported as it arrives', async () => {
    const seen: string[] = [];
    const proxy = await startFaultProxy({
      target: emulator.endpoint,
      random: new Random(1),
      latencyMs: 5,
      onRequest: (event) => seen.push(`${event.service}:${event.operation}`),
    });
    proxy.setEnabled(false);
    const c = clients(proxy.endpoint);
    try {
      const response = await c.s3.send(new GetObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: 'k/file.bin' }));
      const body = Buffer.from(await response.Body!.transformToByteArray());
      assert.deepEqual(body, Buffer.alloc(256 * 1024, 7));
      const sent = await c.sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls.validation, MessageBody: 'x' }));
      assert.ok(sent.MessageId);
      assert.deepEqual(seen, ['s3:GetObject', 'sqs:SendMessage']);
      assert.equal(proxy.stats.delayed, 0, 'no random delays');
      assert.equal(
        Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0),
        0,
        'no faults',
      );
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
      c.sns.destroy();
      await proxy.stop();
    }
  });
});
