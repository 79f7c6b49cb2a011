/**
 * The direct SQS path (src/aws/sqs-direct.ts) against the same real servers as
 * the SDK path: moto_server and the emulator, side by side with the SDK's
 * answers, and through the chaos suite's fault proxy for what a server will not
 * do on demand (5xx, throttling, a reset).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws/clients.ts';
import { changeVisibility, createQueueBatchers, ORIGIN_ATTRIBUTE, originOf, receiveCountOf, receiveMessages } from '../../src/aws/queue.ts';
import { directSqs, enableDirectSqs } from '../../src/aws/sqs-direct.ts';
import { awsErrorInfo, isQueueMissing } from '../../src/aws/errors.ts';
import { createLogger } from '../../src/log/logger.ts';
import { DEFAULT_RESOURCES, startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { startFaultProxy, type FaultKind } from '../../harness/aws-proxy.ts';
import { Random } from '../../harness/random.ts';
import { startMoto, type Moto } from '../support/moto.ts';

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const RECEIVE = { max: 10, waitSeconds: 1, visibilityTimeoutSeconds: 30 };

function client(endpoint: string): SQSClient {
  return createSqsClient({ region: REGION, endpoint, credentials: CREDENTIALS });
}

/** The same round trip on any server: forward, receive, hide again, delete, and the errors of a missing queue. */
function roundTrip(name: string, setUp: () => Promise<{ endpoint: string; stop(): Promise<void> }>) {
  describe(`direct SQS path on ${name}`, () => {
    let server: { endpoint: string; stop(): Promise<void> };
    let sqs: SQSClient;
    let queueUrl: string;
    before(async () => {
      server = await setUp();
      sqs = client(server.endpoint);
      queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `direct-${Date.now()}` }))).QueueUrl!;
    });
    after(async () => {
      sqs?.destroy();
      await server?.stop();
    });

    test('a forwarded batch is received with its attributes, hidden again and deleted', async () => {
      assert.ok(directSqs(sqs), 'the worker-style client has the direct path');
      const batchers = createQueueBatchers(sqs, { inbound: queueUrl, outbound: queueUrl }, { deleteMs: 5, sendMs: 5 });
      const bodies = ['{"a":1}', 'ünïcode ✓ body', '{"b":2}'];
      await Promise.all([
        batchers.forward({ body: bodies[0]!, attributes: { [ORIGIN_ATTRIBUTE]: { DataType: 'String', StringValue: 'rescan' } } }),
        batchers.forward({ body: bodies[1]!, attributes: {} }),
        batchers.forward({ body: bodies[2]!, attributes: {} }),
      ]);
      const received = [];
      for (let i = 0; i < 10 && received.length < 3; i++) received.push(...(await receiveMessages(sqs, queueUrl, RECEIVE)));
      assert.deepEqual(received.map((m) => m.Body).sort(), [...bodies].sort());
      for (const message of received) {
        assert.equal(receiveCountOf(message), 1);
        assert.equal(originOf(message), message.Body === bodies[0] ? 'rescan' : 'event');
      }
      // Hidden again for 0 s: it comes straight back, with its count up.
      await changeVisibility(sqs, queueUrl, received[0]!.ReceiptHandle!, 0);
      let again: Awaited<ReturnType<typeof receiveMessages>> = [];
      for (let i = 0; i < 10 && again.length === 0; i++) again = await receiveMessages(sqs, queueUrl, RECEIVE);
      assert.equal(again[0]?.MessageId, received[0]!.MessageId);
      assert.equal(receiveCountOf(again[0]!), 2);
      await Promise.all([again[0]!, ...received.slice(1)].map((message) => batchers.delete(message.ReceiptHandle!)));
      await batchers.drain();
      const sdk = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0, VisibilityTimeout: 0 }));
      assert.equal(sdk.Messages?.length ?? 0, 0, 'every message deleted');
    });

    test('the same message reads the same through the SDK and the direct path', async () => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: 'same',
          MessageAttributes: { [ORIGIN_ATTRIBUTE]: { DataType: 'String', StringValue: 'rescan' } },
        }),
      );
      const [direct] = await receiveMessages(sqs, queueUrl, RECEIVE);
      assert.ok(direct);
      await changeVisibility(sqs, queueUrl, direct.ReceiptHandle!, 0);
      const sdk = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: [ORIGIN_ATTRIBUTE],
        }),
      );
      const fromSdk = sdk.Messages?.[0];
      assert.ok(fromSdk);
      for (const field of ['MessageId', 'Body', 'MD5OfBody', 'MessageAttributes'] as const) {
        assert.deepEqual(direct[field], fromSdk[field], field);
      }
      await createQueueBatchers(sqs, { inbound: queueUrl, outbound: queueUrl }, { deleteMs: 1, sendMs: 1 }).delete(fromSdk.ReceiptHandle!);
    });

    test('a batch with a receipt handle the server does not know answers as through the SDK', async () => {
      const Entries = [{ Id: '0', ReceiptHandle: 'not-a-receipt-handle' }];
      const direct = await directSqs(sqs)!.deleteMessageBatch(queueUrl, Entries);
      const sdk = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries }));
      assert.deepEqual(
        { failed: direct.Failed?.map((f) => [f.Id, f.Code, f.SenderFault]) ?? [], sent: direct.Successful?.length ?? 0 },
        { failed: sdk.Failed?.map((f) => [f.Id, f.Code, f.SenderFault]) ?? [], sent: sdk.Successful?.length ?? 0 },
      );
    });

    test('a queue that does not exist is an error classified as the SDK classifies it', async () => {
      const missing = `${queueUrl}-missing`;
      const error = await receiveMessages(sqs, missing, RECEIVE).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(error, 'the receive failed');
      assert.ok(isQueueMissing(error), `classified as a missing queue: ${JSON.stringify(awsErrorInfo(error))}`);
    });
  });
}

roundTrip('moto', async () => {
  const moto: Moto = await startMoto();
  return { endpoint: moto.endpoint, stop: () => moto.stop() };
});

roundTrip('the emulator', async () => {
  const emulator: Emulator = await startEmulator({
    port: 0,
    resources: DEFAULT_RESOURCES,
    logger: createLogger('warn', 'emulator'),
    notifications: false,
  });
  return { endpoint: emulator.endpoint, stop: () => emulator.stop() };
});

describe('direct SQS path through the fault proxy', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startEmulator({
      port: 0,
      resources: DEFAULT_RESOURCES,
      logger: createLogger('warn', 'emulator'),
      notifications: false,
    });
  });
  after(async () => {
    await emulator?.stop();
  });

  for (const kind of ['http-500', 'http-503', 'throttle', 'reset-request'] as const satisfies FaultKind[]) {
    test(`${kind} on every attempt: retried up to maxAttempts, then the error is reported and thrown`, async () => {
      const faulty = await startFaultProxy({
        target: emulator.endpoint,
        random: new Random(1),
        force: { operation: 'ReceiveMessage', kind },
      });
      const errors: string[] = [];
      const sqs = createSqsClient({ region: REGION, endpoint: faulty.endpoint, credentials: CREDENTIALS });
      enableDirectSqs(sqs, { onError: (service, operation) => errors.push(`${service}.${operation}`) });
      const url = `${faulty.endpoint}${new URL(emulator.queueUrls.inbound).pathname}`;
      try {
        const error = await receiveMessages(sqs, url, RECEIVE).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        assert.ok(error);
        if (kind !== 'reset-request') {
          assert.equal(awsErrorInfo(error).status, kind === 'throttle' ? 400 : kind === 'http-500' ? 500 : 503);
        }
        assert.equal(faulty.stats.byOperation['sqs:ReceiveMessage']?.requests, 5, 'the SDK clients are made with maxAttempts 5');
        assert.deepEqual(errors, ['SQS.ReceiveMessage']);
      } finally {
        sqs.destroy();
        await faulty.stop();
      }
    });
  }

  test('a body whose MD5 is not the one SQS sent is refused, as the SDK refuses it', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ Messages: [{ MessageId: 'm1', ReceiptHandle: 'r', Body: 'hello', MD5OfBody: '0'.repeat(32) }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sqs = client(endpoint);
    try {
      await assert.rejects(receiveMessages(sqs, `${endpoint}/000000000000/q`, RECEIVE), /Invalid MD5 checksum on messages: m1/);
    } finally {
      sqs.destroy();
      server.close();
    }
  });
});
