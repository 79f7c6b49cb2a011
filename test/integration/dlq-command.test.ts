// `bucketscan dlq list|redrive` as a separate process against the emulator over
// HTTP. The emulator has no message move tasks, so redrive takes the
// receive-send-delete path here (test/unit/dlq.test.ts covers the move task).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { buildEventDocument, buildObjectCreatedRecord } from '../../src/events/s3-event.ts';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { endpointEnv, oneLine, runCli } from '../support/cli.ts';
import { RESOURCES } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let emulator: Emulator;
let sqs: SQSClient;
let env: Record<string, string>;

before(async () => {
  emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
  sqs = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  env = endpointEnv(emulator.endpoint);
});

after(async () => {
  sqs?.destroy();
  await emulator?.stop();
});

beforeEach(async () => {
  for (const url of [emulator.queueUrls.inbound, emulator.queueUrls.deadLetter]) await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
});

function eventBody(key: string): string {
  return JSON.stringify(
    buildEventDocument([
      buildObjectCreatedRecord({
        bucket: 'unprocessed',
        key,
        size: 5,
        eTag: 'abc',
        eventName: 'ObjectCreated:Put',
        region: 'us-east-1',
        eventTime: new Date(),
        sequencer: '0A',
      }),
    ]),
  );
}

/**
 * Sends a message to the inbound queue and receives it until the redrive policy
 * moves it to the dead-letter queue, as a failing worker would. Returns its MessageId.
 */
async function deadLetter(body: string, attributes?: Record<string, string>): Promise<string> {
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl: emulator.queueUrls.inbound,
      MessageBody: body,
      ...(attributes
        ? { MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])) }
        : {}),
    }),
  );
  for (let receive = 0; receive < RESOURCES.maxReceiveCount; receive++) {
    const got = await waitFor('the message back on the inbound queue', async () => {
      const response = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: emulator.queueUrls.inbound, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
      );
      return response.Messages?.find((m) => m.MessageId === sent.MessageId);
    });
    assert.ok(got);
  }
  // The next receive finds it over its maxReceiveCount and moves it.
  await waitFor('the message in the dead-letter queue', async () => {
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: emulator.queueUrls.inbound, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
    return emulator.server.inspectQueue(RESOURCES.deadLetterQueueName)!.messages.ready.length > 0 ? true : undefined;
  });
  return sent.MessageId!;
}

async function sendToDlq(body: string): Promise<string> {
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls.deadLetter, MessageBody: body }));
  return sent.MessageId!;
}

async function counts(url: string): Promise<{ visible: number; inFlight: number }> {
  const response = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(response.Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(response.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

async function receiveAll(url: string): Promise<Message[]> {
  const response = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
    }),
  );
  return response.Messages ?? [];
}

describe('dlq list', () => {
  test('shows each message with the keys it carries, its receive count, age and first receive, and leaves them visible', async () => {
    const key = `${randomUUID()}/report 2026.pdf`;
    const deadId = await deadLetter(eventBody(key), { 'bucketscan-origin': 'rescan' });
    const junkId = await sendToDlq('this is not JSON');

    const result = await runCli(['dlq', 'list'], env);
    assert.equal(result.code, 0, result.stderr);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    assert.match(header!, /^MESSAGE ID +RECEIVES +AGE +FIRST RECEIVED +OBJECTS$/);
    assert.equal(rows.length, 2);
    const dead = rows.find((row) => row.startsWith(deadId));
    // The MessageId is the one the message had on the inbound queue: a worker's log
    // lines about it can be found by it.
    assert.ok(dead, `no row for ${deadId}:\n${result.stdout}`);
    assert.match(
      dead,
      new RegExp(`^${deadId} +\\d+ +\\d+(\\.\\d)?s +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +\\[rescan\\] "s3://unprocessed/${key}"$`),
    );
    const receives = Number(dead.split(/ +/)[1]);
    assert.ok(receives > RESOURCES.maxReceiveCount, `receive count ${receives} includes the inbound queue's receives`);
    assert.match(rows.find((row) => row.startsWith(junkId)) ?? '', /\(unreadable: message body is not valid JSON\)$/);
    assert.match(result.stderr, /dead-letter queue "virus-scanning-dlq": listed 2 messages of ~2 messages; all are visible again/);

    // Visible again at once: all of them can be received right away.
    assert.deepEqual(await counts(emulator.queueUrls.deadLetter), { visible: 2, inFlight: 0 });
    assert.deepEqual((await receiveAll(emulator.queueUrls.deadLetter)).map((m) => m.MessageId).sort(), [deadId, junkId].sort());
  });

  test('--json: one object per line; --max bounds the listing', async () => {
    const keys = [0, 1, 2].map((i) => `${randomUUID()}/${i}.txt`);
    for (const key of keys) await sendToDlq(eventBody(key));
    const result = await runCli(['dlq', 'list', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, any>);
    assert.equal(lines.length, 3);
    assert.deepEqual(lines.map((line) => line['objects'][0].key).sort(), [...keys].sort());
    for (const line of lines) {
      assert.equal(line['kind'], 'records');
      assert.equal(typeof line['receiveCount'], 'number');
      assert.equal(typeof line['ageSeconds'], 'number');
      assert.match(line['firstReceivedAt'], /^\d{4}-/);
    }
    const bounded = await runCli(['dlq', 'list', '--json', '--max', '2'], env);
    assert.equal(bounded.code, 0, bounded.stderr);
    assert.equal(bounded.stdout.trimEnd().split('\n').length, 2);
    assert.match(bounded.stderr, /the first 2: --max/);
    assert.deepEqual(await counts(emulator.queueUrls.deadLetter), { visible: 3, inFlight: 0 });
  });

  test('an empty dead-letter queue: one clear line, exit 0, nothing on stdout', async () => {
    const result = await runCli(['dlq', 'list'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(oneLine(result), 'dead-letter queue "virus-scanning-dlq" is empty');
  });
});

describe('dlq redrive', () => {
  test('moves every message back to the inbound queue exactly once, body and attributes kept', async () => {
    const bodies = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => eventBody(`${randomUUID()}/${i}.txt`));
    for (const body of bodies) await sendToDlq(body);
    await deadLetter(eventBody(`${randomUUID()}/rescanned.txt`), { 'bucketscan-origin': 'rescan' });

    const result = await runCli(['dlq', 'redrive'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^moved 13 messages from "virus-scanning-dlq" to "virus-scanning" \(receive, send, delete\)/);
    assert.match(result.stderr, /no SQS message move tasks \(InvalidAction\)/);

    assert.deepEqual(await counts(emulator.queueUrls.deadLetter), { visible: 0, inFlight: 0 });
    assert.deepEqual(await counts(emulator.queueUrls.inbound), { visible: 13, inFlight: 0 });
    const moved: Message[] = [];
    for (let round = 0; round < 5 && moved.length < 13; round++) {
      const response = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: emulator.queueUrls.inbound,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          MessageAttributeNames: ['All'],
        }),
      );
      moved.push(...(response.Messages ?? []));
    }
    assert.equal(moved.length, 13);
    const rescanned = moved.filter((m) => m.MessageAttributes?.['bucketscan-origin']?.StringValue === 'rescan');
    assert.equal(rescanned.length, 1, 'message attributes travel with the body');
    assert.deepEqual(
      moved
        .filter((m) => !m.MessageAttributes)
        .map((m) => m.Body)
        .sort(),
      [...bodies].sort(),
    );
  });

  test('--dry-run moves nothing; --max moves exactly that many', async () => {
    for (let i = 0; i < 5; i++) await sendToDlq(eventBody(`${randomUUID()}/${i}.txt`));
    const dry = await runCli(['dlq', 'redrive', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: would move ~5 messages from "virus-scanning-dlq" to "virus-scanning" with receive, send, delete$/m);
    assert.deepEqual(await counts(emulator.queueUrls.deadLetter), { visible: 5, inFlight: 0 });
    assert.deepEqual(await counts(emulator.queueUrls.inbound), { visible: 0, inFlight: 0 });

    const two = await runCli(['dlq', 'redrive', '--max', '2'], env);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, /^moved 2 messages /);
    assert.deepEqual(await counts(emulator.queueUrls.deadLetter), { visible: 3, inFlight: 0 });
    assert.deepEqual(await counts(emulator.queueUrls.inbound), { visible: 2, inFlight: 0 });
  });

  test('an empty dead-letter queue: nothing to do, exit 0', async () => {
    const result = await runCli(['dlq', 'redrive'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'dead-letter queue "virus-scanning-dlq" is empty: nothing to redrive\n');
  });
});

describe('dlq refuses bad input with one line and exit 2', () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['no action', ['dlq'], {}, /^bucketscan: dlq: name an action: dlq list or dlq redrive/],
    ['an unknown action', ['dlq', 'purge'], {}, /unknown action "purge"/],
    ['a bad --max', ['dlq', 'list', '--max', '0'], {}, /--max must be a whole number from 1 to 10000/],
    ['an option of the other action', ['dlq', 'list', '--dry-run'], {}, /unknown option "--dry-run"/],
    [
      'a queue without a redrive policy',
      ['dlq', 'list'],
      { VIRUS_SCANNING_QUEUE_NAME: 'validation' },
      /queue "validation" has no redrive policy, so it has no dead-letter queue/,
    ],
    [
      'an inbound queue that does not exist',
      ['dlq', 'redrive'],
      { VIRUS_SCANNING_QUEUE_NAME: 'no-such-queue' },
      /the inbound queue "no-such-queue" \(VIRUS_SCANNING_QUEUE_NAME\) does not exist$/,
    ],
    ['a --queue that does not exist', ['dlq', 'list', '--queue', 'no-such-dlq'], {}, /queue "no-such-dlq" \(--queue\) does not exist$/],
    [
      'a --queue that is the inbound queue',
      ['dlq', 'redrive', '--queue', 'virus-scanning'],
      {},
      /"virus-scanning" is the inbound queue itself/,
    ],
    [
      'no inbound queue setting',
      ['dlq', 'list'],
      { VIRUS_SCANNING_QUEUE_NAME: '' },
      /configuration error: VIRUS_SCANNING_QUEUE_NAME: is required/,
    ],
  ];
  for (const [what, args, extra, message] of cases) {
    test(what, async () => {
      const result = await runCli(args, { ...env, ...extra });
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
    });
  }

  test('--queue names a dead-letter queue directly, without the inbound queue setting', async () => {
    await sendToDlq(eventBody(`${randomUUID()}/a.txt`));
    const result = await runCli(['dlq', 'list', '--queue', RESOURCES.deadLetterQueueName], { ...env, VIRUS_SCANNING_QUEUE_NAME: '' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trimEnd().split('\n').length, 2);
  });
});
