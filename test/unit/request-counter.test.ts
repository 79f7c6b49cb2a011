import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RequestCounter, REQUEST_COUNT_VARIABLE, type RequestCounts } from '../../src/aws/request-counter.ts';

/** A fake SQS (JSON protocol) that answers each request with the next reply in line. */
async function fakeSqs(replies: Array<{ status: number; body: unknown }>): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const reply = replies.shift() ?? { status: 200, body: {} };
      response.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, endpoint: `http://127.0.0.1:${address.port}` };
}

function client(endpoint: string): SQSClient {
  return new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 3 });
}

const queueUrl = 'http://127.0.0.1/000000000000/inbound';

test('counts every attempt per operation, retries and failures included, and receives that brought nothing', async () => {
  const { server, endpoint } = await fakeSqs([
    { status: 500, body: { __type: 'InternalError', message: 'try again' } },
    {
      status: 200,
      body: { Messages: [{ MessageId: '1', ReceiptHandle: 'r1', Body: 'x', MD5OfBody: '9dd4e461268c8034f5c8564e155c67a6' }] },
    },
    { status: 200, body: {} },
    { status: 200, body: {} },
  ]);
  const sqs = client(endpoint);
  const counter = new RequestCounter();
  counter.attach(sqs.middlewareStack);
  try {
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    assert.equal(first.Messages?.length, 1);
    const second = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    assert.equal(second.Messages, undefined);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'r1' }));
  } finally {
    sqs.destroy();
    server.close();
  }
  const counts = counter.snapshot();
  assert.deepEqual(counts.attempts, { 'SQS.DeleteMessage': 1, 'SQS.ReceiveMessage': 3 });
  assert.deepEqual(counts.failed, { 'SQS.ReceiveMessage': 1 });
  // The failed attempt and the empty one.
  assert.equal(counts.emptyReceives, 2);
  assert.equal(counts.receivedMessages, 1);
});

test('attaching twice to one client counts once', async () => {
  const { server, endpoint } = await fakeSqs([{ status: 200, body: {} }]);
  const sqs = client(endpoint);
  const counter = new RequestCounter();
  counter.attach(sqs.middlewareStack);
  counter.attach(sqs.middlewareStack);
  try {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'r1' }));
  } finally {
    sqs.destroy();
    server.close();
  }
  assert.deepEqual(counter.snapshot().attempts, { 'SQS.DeleteMessage': 1 });
});

test(`${REQUEST_COUNT_VARIABLE} makes createClients count, and the counts are written when the process exits`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-counter-'));
  const path = join(dir, 'counts.json');
  const clients = fileURLToPath(new URL('../../src/aws/clients.ts', import.meta.url));
  const config = fileURLToPath(new URL('../../src/config/config.ts', import.meta.url));
  // A child that makes one request to a closed port (it fails: 1 attempt, no retry
  // needed to prove the wiring) and exits.
  const script = `
    const { createClients } = await import(${JSON.stringify(clients)});
    const { loadConfig } = await import(${JSON.stringify(config)});
    const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
    const config = loadConfig({
      UNPROCESSED_BUCKET_NAME: 'unprocessed', QUARANTINE_BUCKET_NAME: 'quarantine',
      VIRUS_SCANNING_QUEUE_NAME: 'in', VALIDATION_QUEUE_NAME: 'out',
      VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:t', AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
    });
    const clients = createClients(config);
    clients.sqs.config.maxAttempts = async () => 1;
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: 'http://127.0.0.1:9/0/in', ReceiptHandle: 'r' })).catch(() => {});
    clients.destroy();
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, [REQUEST_COUNT_VARIABLE]: path },
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  const counts = JSON.parse(readFileSync(path, 'utf8')) as RequestCounts;
  assert.ok((counts.attempts['SQS.DeleteMessage'] ?? 0) >= 1, JSON.stringify(counts));
  assert.ok((counts.failed['SQS.DeleteMessage'] ?? 0) >= 1, JSON.stringify(counts));
});
