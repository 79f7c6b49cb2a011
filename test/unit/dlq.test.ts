// The pure parts of `bucketscan dlq`: describing a message, the table and JSON
// forms, the redrive policy and ARN parsing, "unsupported" detection, and the
// watching of an SQS message move task (no emulator here implements move tasks,
// so that part runs against a scripted API on a fake clock).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@aws-sdk/client-sqs';
import { isUnsupportedOperation, parseQueueArn, parseRedrivePolicy, type MoveTask } from '../../src/aws/dead-letter.ts';
import { describeMessage, formatTable, MAX_OBJECTS_PER_MESSAGE, toJson } from '../../src/dlq/describe.ts';
import { resendableAttributes, runMoveTask, type MoveTaskApi } from '../../src/dlq/redrive.ts';
import { buildEventDocument, buildObjectCreatedRecord } from '../../src/events/s3-event.ts';
import type { Clock } from '../../src/shared/time.ts';

const GUID = '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34';
const rules = { bucket: 'unprocessed', prefix: '' };
const sent = Date.parse('2026-06-15T10:00:00Z');
const now = new Date('2026-06-15T12:30:05Z');

function record(key: string, bucket = 'unprocessed', versionId?: string) {
  return buildObjectCreatedRecord({
    bucket,
    key,
    size: 3,
    eTag: 'abc',
    ...(versionId ? { versionId } : {}),
    eventName: 'ObjectCreated:Put',
    region: 'us-east-1',
    eventTime: new Date(sent),
    sequencer: '0A',
  });
}

function message(body: string, extra: Partial<Message> = {}): Message {
  return {
    MessageId: '5d848893-7d8c-4fc2-b569-0ee2d7f4b5da',
    Body: body,
    Attributes: { SentTimestamp: String(sent), ApproximateReceiveCount: '6', ApproximateFirstReceiveTimestamp: String(sent + 1500) },
    ...extra,
  };
}

describe('describeMessage', () => {
  test('an S3 event: keys decoded by the worker rules, receive count, times, origin', () => {
    const body = JSON.stringify(buildEventDocument([record(`${GUID}/a b.txt`, 'unprocessed', 'v1'), record('junk.txt')]));
    const entry = describeMessage(
      message(body, { MessageAttributes: { 'bucketscan-origin': { DataType: 'String', StringValue: 'rescan' } } }),
      rules,
    );
    assert.equal(entry.receiveCount, 6);
    assert.equal(entry.sentAt?.getTime(), sent);
    assert.equal(entry.firstReceivedAt?.getTime(), sent + 1500);
    assert.equal(entry.origin, 'rescan');
    assert.deepEqual(entry.content, {
      kind: 'records',
      envelope: 'direct',
      records: 2,
      objects: [
        { bucket: 'unprocessed', key: `${GUID}/a b.txt`, versionId: 'v1' },
        { bucket: 'unprocessed', key: 'junk.txt', problem: 'object key has no "<submission_guid>/" folder' },
      ],
    });
  });

  test('an SNS envelope, a test event, junk and an empty body never throw', () => {
    const inner = JSON.stringify(buildEventDocument([record(`${GUID}/x.pdf`)]));
    const sns = describeMessage(message(JSON.stringify({ Type: 'Notification', Message: inner })), rules);
    assert.equal(sns.content.kind, 'records');
    if (sns.content.kind === 'records') assert.equal(sns.content.envelope, 'sns');
    assert.deepEqual(describeMessage(message('{"Service":"Amazon S3","Event":"s3:TestEvent"}'), rules).content, { kind: 'test-event' });
    assert.deepEqual(describeMessage(message('not json'), rules).content, { kind: 'invalid', reason: 'message body is not valid JSON' });
    const bare = describeMessage({}, rules);
    assert.equal(bare.receiveCount, undefined);
    assert.equal(bare.sentAt, undefined);
    assert.deepEqual(bare.content, { kind: 'invalid', reason: 'message body is empty' });
  });

  test('without the worker rules a record is read against its own bucket', () => {
    const entry = describeMessage(message(JSON.stringify(buildEventDocument([record(`${GUID}/a.txt`, 'elsewhere')]))));
    assert.deepEqual(entry.content.kind === 'records' && entry.content.objects, [{ bucket: 'elsewhere', key: `${GUID}/a.txt` }]);
  });

  test('a body with thousands of records is described by its first hundred and a count', () => {
    const many = buildEventDocument(Array.from({ length: 5000 }, (_, i) => record(`${GUID}/${i}.txt`)));
    const entry = describeMessage(message(JSON.stringify(many)), rules);
    assert.equal(entry.content.kind, 'records');
    if (entry.content.kind !== 'records') return;
    assert.equal(entry.content.records, 5000);
    assert.equal(entry.content.objects.length, MAX_OBJECTS_PER_MESSAGE);
    const [, row] = formatTable([entry], now);
    assert.match(row!, /\(\+4,?997 more\)$/);
  });
});

test('the table: header, aligned columns, age since sent, unambiguous keys', () => {
  const plain = describeMessage(message(JSON.stringify(buildEventDocument([record(`${GUID}/a.txt`)]))), rules);
  const odd = describeMessage(
    message(JSON.stringify(buildEventDocument([record(`${GUID}/two words, "quoted".txt`)])), { MessageId: 'm2', Attributes: {} }),
    rules,
  );
  const lines = formatTable([plain, odd], now);
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^MESSAGE ID\s+RECEIVES\s+AGE\s+FIRST RECEIVED\s+OBJECTS$/);
  assert.equal(lines[1], `5d848893-7d8c-4fc2-b569-0ee2d7f4b5da         6  2h 30m  2026-06-15T10:00:01Z  s3://unprocessed/${GUID}/a.txt`);
  assert.ok(lines[2]!.endsWith(`"s3://unprocessed/${GUID}/two words, \\"quoted\\".txt"`), lines[2]);
  assert.equal(lines[1]!.indexOf('s3://'), lines[2]!.indexOf('"s3://'), 'columns aligned');
});

test('the JSON form', () => {
  const entry = describeMessage(message('not json'), rules);
  assert.deepEqual(toJson(entry, now), {
    messageId: '5d848893-7d8c-4fc2-b569-0ee2d7f4b5da',
    receiveCount: 6,
    sentAt: '2026-06-15T10:00:00.000Z',
    ageSeconds: 9005,
    firstReceivedAt: '2026-06-15T10:00:01.500Z',
    origin: null,
    bodyBytes: 8,
    kind: 'invalid',
    reason: 'message body is not valid JSON',
  });
});

test('redrive policies and queue ARNs', () => {
  assert.deepEqual(parseRedrivePolicy('{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:q-dlq","maxReceiveCount":"5"}'), {
    deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:q-dlq',
    maxReceiveCount: 5,
  });
  assert.equal(parseRedrivePolicy(undefined), undefined);
  assert.equal(parseRedrivePolicy('{oops'), undefined);
  assert.equal(parseRedrivePolicy('{"maxReceiveCount":5}'), undefined);
  assert.deepEqual(parseQueueArn('arn:aws-us-gov:sqs:us-gov-west-1:123456789012:dlq.fifo'), {
    region: 'us-gov-west-1',
    account: '123456789012',
    name: 'dlq.fifo',
  });
  assert.equal(parseQueueArn('arn:aws:sns:us-east-1:123456789012:topic'), undefined);
});

test('"move tasks unsupported" covers the emulators, not access problems or throttling', () => {
  const error = (name: string, status: number, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });
  assert.equal(isUnsupportedOperation(error('InvalidAction', 400)), true, 'fauxqs');
  assert.equal(isUnsupportedOperation(error('SyntaxError', 500)), true, 'moto_server: an HTML 500 page');
  assert.equal(isUnsupportedOperation(error('UnknownOperationException', 400)), true);
  assert.equal(isUnsupportedOperation(error('Whatever', 501)), true);
  assert.equal(isUnsupportedOperation(error('AccessDenied', 403)), false);
  assert.equal(isUnsupportedOperation(error('RequestThrottled', 400)), false);
  assert.equal(isUnsupportedOperation(error('InternalError', 500)), false);
  assert.equal(isUnsupportedOperation('not an error'), false);
});

test('attributes are carried over as SQS accepts them', () => {
  assert.equal(resendableAttributes({}), undefined);
  const binary = new Uint8Array([1, 2, 3]);
  assert.deepEqual(
    resendableAttributes({
      MessageAttributes: {
        origin: { DataType: 'String', StringValue: 'rescan' },
        blob: { DataType: 'Binary', BinaryValue: binary },
        n: { DataType: 'Number', StringValue: '7', StringListValues: [] },
      },
    }),
    {
      origin: { DataType: 'String', StringValue: 'rescan' },
      blob: { DataType: 'Binary', BinaryValue: binary },
      n: { DataType: 'Number', StringValue: '7' },
    },
  );
});

describe('runMoveTask', () => {
  function scripted(statuses: Array<Partial<MoveTask>>) {
    let polls = 0;
    const calls: string[] = [];
    let cancelledAt: number | undefined;
    const api: MoveTaskApi = {
      async start() {
        calls.push('start');
        return 'handle-1';
      },
      async list() {
        calls.push('list');
        const step = statuses[Math.min(polls++, statuses.length - 1)]!;
        const status = cancelledAt !== undefined && polls > cancelledAt ? 'CANCELLED' : (step.status ?? 'RUNNING');
        return [
          {
            taskHandle: status === 'RUNNING' ? 'handle-1' : undefined,
            status,
            moved: step.moved ?? 0,
            toMove: 10,
            failureReason: step.failureReason,
          },
          { taskHandle: undefined, status: 'COMPLETED', moved: 99, toMove: 99, failureReason: undefined },
        ];
      },
      async cancel(handle) {
        calls.push(`cancel ${handle}`);
        cancelledAt = polls;
        return 4;
      },
    };
    let now = 0;
    const clock: Clock = {
      now: () => now,
      async sleep(ms, signal) {
        if (signal?.aborted) return;
        now += ms;
      },
    };
    return { api, calls, clock };
  }

  test('follows a task to completion, reporting progress', async () => {
    const { api, calls, clock } = scripted([{ moved: 0 }, { moved: 4 }, { status: 'COMPLETED', moved: 10 }]);
    const seen: number[] = [];
    const outcome = await runMoveTask(api, { signal: new AbortController().signal, clock, onProgress: (task) => seen.push(task.moved) });
    assert.equal(outcome.kind, 'done');
    assert.equal(outcome.task.moved, 10);
    assert.deepEqual(seen, [0, 4, 10]);
    assert.deepEqual(calls, ['start', 'list', 'list', 'list']);
  });

  test('a failed task says why', async () => {
    const { api, clock } = scripted([
      { moved: 2 },
      { status: 'FAILED', moved: 2, failureReason: 'AWS.SimpleQueueService.NonExistentQueue' },
    ]);
    const outcome = await runMoveTask(api, { signal: new AbortController().signal, clock });
    assert.equal(outcome.kind, 'failed');
    assert.equal(outcome.task.failureReason, 'AWS.SimpleQueueService.NonExistentQueue');
  });

  test('an interrupt cancels the task once and waits for SQS to confirm', async () => {
    const { api, calls, clock } = scripted([{ moved: 1 }, { moved: 4 }]);
    const controller = new AbortController();
    const outcome = await runMoveTask(api, {
      signal: controller.signal,
      clock,
      onProgress: (task) => {
        if (task.moved === 4) controller.abort();
      },
    });
    assert.deepEqual(outcome.kind === 'cancelled' && outcome.byUs, true);
    assert.equal(calls.filter((call) => call.startsWith('cancel')).length, 1);
    assert.ok(calls.includes('cancel handle-1'));
  });
});

test('AWS failures become one line, exit 2 only where the fix is in the settings', async () => {
  const { describeAwsFailure, isMissingBucket, isMissingQueue } = await import('../../src/commands/aws-failure.ts');
  const aws = (name: string, status: number, message: string) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  assert.equal(isMissingQueue(aws('QueueDoesNotExist', 400, 'x')), true);
  assert.equal(isMissingQueue(aws('AWS.SimpleQueueService.NonExistentQueue', 400, 'x')), true);
  assert.equal(isMissingBucket(aws('NoSuchBucket', 404, 'x')), true);
  assert.deepEqual(describeAwsFailure('list s3://b/', aws('AccessDenied', 403, 'Access Denied\nmore')), {
    line: 'list s3://b/: AccessDenied: Access Denied (HTTP 403)',
    exitCode: 1,
  });
  assert.deepEqual(describeAwsFailure('send', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), {
    line: 'send: cannot reach the endpoint (ECONNREFUSED)',
    exitCode: 1,
  });
  assert.equal(
    describeAwsFailure('x', Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' })).exitCode,
    2,
  );
});
