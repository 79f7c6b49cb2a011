// The backfill lane end to end (RESCAN_QUEUE): a worker with a real clamd works
// through a large rescan on its own queue when an upload arrives; the upload's
// verdict comes after at most the rescan scans already under way, while hundreds
// of rescan messages are still waiting, and then the rescan finishes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { RESCAN_ATTRIBUTES } from '../../src/aws/queue.ts';
import { buildEventDocument, buildObjectCreatedRecord, createSequencer } from '../../src/events/s3-event.ts';
import { decide } from '../../src/rescan/plan.ts';
import { RESOURCES, startTestClamd, startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const RESCAN_OBJECTS = 400;
const CONCURRENCY = 2;

let clamd: Awaited<ReturnType<typeof startTestClamd>>;
let stack: TestStack;

before(async () => {
  clamd = await startTestClamd();
  stack = await startTestStack({
    clamd: clamd.clamd.address,
    // Uploads here raise no events by themselves: the rescan's objects must not be announced as uploads.
    notifications: false,
    resources: { rescanQueueName: 'rescan' },
    env: { RESCAN_QUEUE: 'rescan', CONCURRENCY: String(CONCURRENCY), RECEIVE_AHEAD: '2', RECEIVE_WAIT_TIME: '1' },
  });
});

after(async () => {
  await stack?.stop();
  await clamd?.stop();
});

const isRescanVerdict = (line: Record<string, unknown>) => line['origin'] === 'rescan' && line['outcome'] === 'clean';
const rescanLines = () => stack.logs.lines.filter(isRescanVerdict);

test('an upload during a rescan of hundreds of objects waits for the scans under way, not for the backlog', async () => {
  // The existing objects: 256 KiB each, so each scan takes clamd real time.
  const keys = Array.from({ length: RESCAN_OBJECTS }, (_, n) => `${randomUUID()}/existing-${n}.bin`);
  const content = randomBytes(256 * 1024);
  for (let i = 0; i < keys.length; i += 20) {
    await Promise.all(
      keys.slice(i, i + 20).map((Key) => stack.s3.send(new PutObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key, Body: content }))),
    );
  }
  // The rescan's events, as `bucketscan rescan` builds them, on the rescan queue.
  const rescanUrl = stack.emulator.moreQueueUrls.get('rescan')!;
  const head = await stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: keys[0] }));
  const sequencer = createSequencer();
  const bodies = keys.map((key) => {
    const decision = decide(
      { key, size: content.length, eTag: head.ETag!, lastModified: new Date() },
      { bucket: RESOURCES.unprocessedBucket, prefix: '', region: RESOURCES.region },
      sequencer,
    );
    assert.equal(decision.kind, 'queue');
    return decision.kind === 'queue' ? decision.body : '';
  });
  for (let i = 0; i < bodies.length; i += 10) {
    await stack.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: rescanUrl,
        Entries: bodies.slice(i, i + 10).map((MessageBody, n) => ({ Id: String(n), MessageBody, MessageAttributes: RESCAN_ATTRIBUTES })),
      }),
    );
  }

  stack.startWorker();
  // The backfill is under way.
  await waitFor('the rescan to be under way', () => (rescanLines().length >= 20 ? true : undefined));

  // An upload arrives, announced on the inbound queue as S3 would announce it.
  const uploadKey = `${randomUUID()}/fresh upload.txt`;
  await stack.put(uploadKey, 'a fresh upload\n');
  const uploaded = await stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: uploadKey }));
  const record = buildObjectCreatedRecord({
    bucket: RESOURCES.unprocessedBucket,
    key: uploadKey,
    size: uploaded.ContentLength!,
    eTag: uploaded.ETag!.replace(/"/g, ''),
    eventName: 'ObjectCreated:Put',
    region: RESOURCES.region,
    eventTime: new Date(),
    sequencer: sequencer(),
  });
  // Counted by position in the log, not when the wait below notices the verdict (rescans go on meanwhile).
  const linesBefore = stack.logs.lines.length;
  await stack.sqs.send(
    new SendMessageCommand({ QueueUrl: stack.emulator.queueUrls.inbound, MessageBody: JSON.stringify(buildEventDocument([record])) }),
  );

  const verdict = await waitFor('the upload’s verdict', () =>
    stack.logs.find((line) => line['key'] === uploadKey && line['outcome'] === 'clean'),
  );
  const verdictAt = stack.logs.lines.indexOf(verdict);
  assert.ok(verdictAt >= linesBefore, 'the verdict line is in the log after the upload');
  const rescannedMeanwhile = stack.logs.lines.slice(linesBefore, verdictAt).filter(isRescanVerdict).length;
  assert.equal(verdict['origin'], undefined, 'an upload, not a rescan');
  // Between the upload's event and its verdict, only rescan scans already running (one per slot), and
  // those already past their scan, could end: never the backlog.
  assert.ok(rescannedMeanwhile <= 2 * CONCURRENCY, `${rescannedMeanwhile} rescan verdicts came first`);
  assert.ok(
    rescanLines().length < RESCAN_OBJECTS - 200,
    `most of the rescan was still waiting (${rescanLines().length} of ${RESCAN_OBJECTS} done)`,
  );
  await stack.message('validation', (m) => JSON.parse(m.Body!).Records[0].s3.object.key === record.s3.object.key);

  // And the backfill finishes: every rescan message scanned and deleted from its own queue.
  await waitFor(`all ${RESCAN_OBJECTS} rescan verdicts`, () => (rescanLines().length >= RESCAN_OBJECTS ? true : undefined), 300_000);
  await waitFor('the rescan queue to be empty', () => {
    const state = stack.emulator.server.inspectQueue('rescan')!;
    return state.messages.ready.length + state.messages.inflight.length === 0 ? true : undefined;
  });
  assert.equal(new Set(rescanLines().map((line) => line['key'])).size, RESCAN_OBJECTS, 'each object once');
});
