// `bucketscan rescan` as a separate process against the emulator over HTTP: what
// lands on the inbound queue, exactly, for each option; Ctrl-C and resuming; and
// the one-line refusals of bad input.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { listCurrentObjects } from '../../src/aws/listing.ts';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord } from '../../src/events/record.ts';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { rescan } from '../../src/rescan/rescan.ts';
import { endpointEnv, oneLine, runCli, startCli } from '../support/cli.ts';
import { drainQueue } from '../support/queue.ts';
import { RESOURCES } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let emulator: Emulator;
let s3: S3Client;
let sqs: SQSClient;
let env: Record<string, string>;
const rules = { bucket: RESOURCES.unprocessedBucket, prefix: '' };

before(async () => {
  // No bucket notifications: only the rescan puts events on the queue.
  emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
  const connection = { region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  s3 = new S3Client({ ...connection, forcePathStyle: true });
  sqs = new SQSClient(connection);
  env = endpointEnv(emulator.endpoint);
});

after(async () => {
  s3?.destroy();
  sqs?.destroy();
  await emulator?.stop();
});

beforeEach(async () => {
  await sqs.send(new PurgeQueueCommand({ QueueUrl: emulator.queueUrls.inbound }));
});

async function put(key: string, body = `content of ${key}`): Promise<{ eTag: string; size: number; lastModified: Date }> {
  await s3.send(new PutObjectCommand({ Bucket: 'unprocessed', Key: key, Body: body }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'unprocessed', Key: key }));
  return { eTag: head.ETag!.replace(/"/g, ''), size: head.ContentLength!, lastModified: head.LastModified! };
}

/** Everything on the inbound queue, received and deleted. */
const drainInbound = (): Promise<Message[]> => drainQueue(sqs, emulator.queueUrls.inbound);

/** The records of the queued messages, each checked by the worker's own parser and checker. */
function queuedTargets(messages: Message[]) {
  return messages.map((message) => {
    assert.deepEqual(message.MessageAttributes?.['bucketscan-origin'], { DataType: 'String', StringValue: 'rescan' });
    const parsed = parseMessageBody(message.Body);
    assert.equal(parsed.kind, 'records');
    if (parsed.kind !== 'records') throw new Error('unreachable');
    assert.equal(parsed.records.length, 1, 'one record per message, as S3 sends');
    const record = parsed.records[0] as Record<string, any>;
    assert.equal(record['eventVersion'], '2.1');
    assert.equal(record['eventSource'], 'aws:s3');
    assert.match(record['eventName'], /^ObjectCreated:/);
    const check = checkRecord(record, rules);
    assert.equal(check.ok, true, check.ok ? '' : check.reason);
    if (!check.ok) throw new Error('unreachable');
    return check.target;
  });
}

const sortedKeys = (targets: Array<{ key: string }>) => targets.map((t) => t.key).sort();

describe('rescan of a prefix', () => {
  test('queues exactly one event per object under it, the document S3 sends, and nothing else', async () => {
    const guid = randomUUID();
    const other = randomUUID();
    const files: Record<string, Awaited<ReturnType<typeof put>>> = {};
    for (const name of ['a.txt', 'b c+d.txt', 'résumé.pdf'])
      files[`${guid}/${name}`] = await put(`${guid}/${name}`, `body ${name} `.repeat(3));
    await put(`${other}/not-this-one.txt`);

    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^queued 3 events for s3://unprocessed/${guid}/ \\(3 listed, 0 skipped\\) in `));

    const targets = queuedTargets(await drainInbound());
    assert.deepEqual(sortedKeys(targets), Object.keys(files).sort());
    for (const target of targets) {
      const file = files[target.key]!;
      assert.equal(target.size, file.size);
      assert.equal(target.eTag, file.eTag);
      assert.equal(target.versionId, undefined, 'an unversioned bucket: no versionId, as in S3 events');
      // The listing's LastModified (HEAD reports whole seconds only).
      assert.equal(Math.floor(Date.parse(target.eventTime) / 1000), file.lastModified.getTime() / 1000);
      assert.equal((target.record as Record<string, any>)['s3'].configurationId, 'bucketscan-rescan');
    }
  });

  test('skips and counts the keys the worker would reject, by reason; --json summary', async () => {
    const guid = randomUUID();
    const base = `rescan-skips-${randomUUID()}`;
    // A prefix of its own; only keys outside the submission layout are under it.
    await put(`${base}/loose.txt`);
    await put(`${base}/x/${guid}.txt`);
    const result = await runCli(['rescan', `s3://unprocessed/${base}/`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.equal(summary['listed'], 2);
    assert.equal(summary['queued'], 0);
    assert.equal(summary['skipped'], 2);
    assert.deepEqual(summary['skippedByReason'], { 'object key folder is not a submission GUID (UUID)': 2 });
    assert.match(result.stderr, new RegExp(`skipped "${base}/loose.txt": object key folder is not a submission GUID`));
    assert.deepEqual(await drainInbound(), []);
  });

  test('mixed valid and invalid keys: valid ones queued, invalid ones counted', async () => {
    const guid = randomUUID();
    await put(`${guid}/ok.txt`);
    await put(`${guid}/`);
    await put(`${guid}/nested/deeper.txt`);
    const result = await runCli(['rescan', `s3://unprocessed/${guid}`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual([summary['listed'], summary['queued'], summary['skipped']], [3, 1, 2]);
    assert.deepEqual(summary['skippedByReason'], {
      'object key has an empty filename': 1,
      'object key filename contains a slash (nested folders are not accepted)': 1,
    });
    assert.deepEqual(sortedKeys(queuedTargets(await drainInbound())), [`${guid}/ok.txt`]);
  });

  test('--dry-run counts and queues nothing', async () => {
    const guid = randomUUID();
    await put(`${guid}/a.txt`);
    await put(`${guid}/b.txt`);
    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--dry-run'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^would queue 2 events for /);
    assert.deepEqual(await drainInbound(), []);
  });

  test('--since leaves out objects modified before it', async () => {
    const guid = randomUUID();
    const old = await put(`${guid}/old.txt`);
    // Re-written until its timestamp is strictly later: HEAD reports whole seconds,
    // so --since at new.txt's second is after old.txt and not after new.txt.
    const fresh = await waitFor('a later LastModified', async () => {
      const written = await put(`${guid}/new.txt`);
      return written.lastModified.getTime() > old.lastModified.getTime() ? written : undefined;
    });
    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--since', fresh.lastModified.toISOString(), '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual([summary['listed'], summary['queued'], summary['older']], [2, 1, 1]);
    assert.deepEqual(sortedKeys(queuedTargets(await drainInbound())), [`${guid}/new.txt`]);

    const relative = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--since', '1h'], env);
    assert.equal(relative.code, 0, relative.stderr);
    assert.equal((await drainInbound()).length, 2);
  });

  test('--start-after resumes after a key', async () => {
    const guid = randomUUID();
    const keys = ['1.txt', '2.txt', '3.txt', '4.txt'].map((name) => `${guid}/${name}`);
    for (const key of keys) await put(key);
    const result = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--start-after', keys[1]!], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sortedKeys(queuedTargets(await drainInbound())), keys.slice(2));
    // Resuming after the last key finds nothing more: done, not an error.
    const atEnd = await runCli(['rescan', `s3://unprocessed/${guid}/`, '--start-after', keys[3]!], env);
    assert.equal(atEnd.code, 0, atEnd.stderr);
    assert.match(atEnd.stdout, /^queued 0 events/);
  });

  test('Ctrl-C stops cleanly and prints the command that resumes; the two runs queue every object exactly once', async () => {
    const guid = randomUUID();
    const keys: string[] = [];
    for (let i = 0; i < 12; i++) keys.push(`${guid}/${String(i).padStart(2, '0')}.txt`);
    await Promise.all(keys.map((key) => put(key)));
    // 2 messages a second: the run is still going when the first events are visible.
    const running = startCli(['rescan', `s3://unprocessed/${guid}/`, '--rate', '2'], env);
    await waitFor('the first events on the queue', () => {
      const queue = emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
      return queue.messages.ready.length > 0 ? true : undefined;
    });
    running.child.kill('SIGINT');
    const first = await running.done;
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stdout, /^interrupted: queued \d+ events/);
    const resume = /^ {2}bucketscan (rescan .*)$/m.exec(first.stderr)?.[1];
    assert.ok(resume, first.stderr);
    assert.match(resume, new RegExp(`^rescan s3://unprocessed/${guid}/ --rate 2 --start-after ${guid}/\\d\\d\\.txt$`));
    const firstKeys = sortedKeys(queuedTargets(await drainInbound()));
    assert.ok(firstKeys.length > 0 && firstKeys.length < keys.length, `first run queued ${firstKeys.length}`);
    assert.equal(resume.split(' --start-after ')[1], firstKeys.at(-1), 'resumes right after the last key queued');

    const second = await runCli([...resume.split(' ').filter((word) => word !== '--rate' && word !== '2')], env);
    assert.equal(second.code, 0, second.stderr);
    const secondKeys = sortedKeys(queuedTargets(await drainInbound()));
    assert.deepEqual([...firstKeys, ...secondKeys], keys, 'every object once, none twice');
  });
});

describe('rescan refuses bad input with one line and exit 2', () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['no URL', ['rescan'], {}, /^bucketscan: rescan: name what to rescan/],
    ['a malformed URL', ['rescan', 'unprocessed/x'], {}, /an S3 URL starts with s3:\/\//],
    ['a URL without a bucket', ['rescan', 's3:///x'], {}, /no bucket name/],
    ['the quarantine bucket', ['rescan', 's3://quarantine/'], {}, /quarantine area \(QUARANTINE_BUCKET_NAME\): it is never rescanned/],
    ['another bucket', ['rescan', 's3://somewhere-else/'], {}, /is not the unprocessed bucket "unprocessed"/],
    [
      'a bucket that does not exist',
      ['rescan', 's3://missing-bucket/'],
      { UNPROCESSED_BUCKET_NAME: 'missing-bucket' },
      /bucket "missing-bucket" does not exist$/,
    ],
    [
      'a prefix that matches nothing',
      ['rescan', 's3://unprocessed/no-such-prefix/'],
      {},
      /no objects under s3:\/\/unprocessed\/no-such-prefix\/: check the bucket and prefix$/,
    ],
    [
      'a queue that does not exist',
      ['rescan', 's3://unprocessed/'],
      { VIRUS_SCANNING_QUEUE_NAME: 'no-such-queue' },
      /the inbound queue "no-such-queue" does not exist/,
    ],
    ['a bad --since', ['rescan', 's3://unprocessed/', '--since', 'last tuesday'], {}, /--since "last tuesday" is neither an ISO 8601 time/],
    ['a bad --rate', ['rescan', 's3://unprocessed/', '--rate', '0'], {}, /--rate must be a number of messages per second above 0/],
    ['an unknown option', ['rescan', 's3://unprocessed/', '--fast'], {}, /unknown option "--fast"/],
    [
      'the quarantine area inside the unprocessed bucket',
      ['rescan', 's3://unprocessed/quarantine/x'],
      { QUARANTINE_BUCKET_NAME: 'unprocessed', QUARANTINE_PREFIX: 'quarantine' },
      /s3:\/\/unprocessed\/quarantine\/ is the quarantine area/,
    ],
    [
      'a value starting with a dash',
      ['rescan', 's3://unprocessed/', '--rate', '-5'],
      {},
      /--rate needs a value \(one starting with "-" is written --rate=-value\)/,
    ],
    [
      'a prefix outside UNPROCESSED_PREFIX',
      ['rescan', 's3://unprocessed/other/'],
      { UNPROCESSED_PREFIX: 'incoming/' },
      /outside UNPROCESSED_PREFIX "incoming\/"/,
    ],
  ];
  for (const [what, args, extra, message] of cases) {
    test(what, async () => {
      const result = await runCli(args, { ...env, ...extra });
      assert.equal(result.code, 2, result.stderr);
      assert.match(oneLine(result), message);
      assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
    });
  }
});

test('a batch entry SQS refuses stops the run with the key to resume after; nothing is dropped', async () => {
  const guid = randomUUID();
  const keys = ['a', 'b', 'c', 'd'].map((name) => `${guid}/${name}.txt`);
  for (const key of keys) await put(key);
  // No emulator refuses single entries of a batch on demand: the S3 side is real,
  // the queue a scripted stand-in that refuses the third entry.
  const refusing = {
    async send(command: { input: { Entries: Array<{ Id: string }> } }) {
      const entries = command.input.Entries;
      return {
        Successful: entries.filter((_, i) => i !== 2).map((entry) => ({ Id: entry.Id, MessageId: 'm' })),
        Failed: entries
          .filter((_, i) => i === 2)
          .map((entry) => ({ Id: entry.Id, Code: 'InvalidMessageContents', Message: 'no', SenderFault: true })),
      };
    },
  } as unknown as SQSClient;
  const result = await rescan({
    pages: listCurrentObjects(s3, { bucket: 'unprocessed', prefix: `${guid}/`, versioned: false }),
    sqs: refusing,
    queueUrl: 'unused',
    rules: { ...rules, region: 'us-east-1' },
    dryRun: false,
    signal: new AbortController().signal,
  });
  assert.equal(result.outcome.kind, 'rejected');
  if (result.outcome.kind === 'rejected')
    assert.deepEqual(
      result.outcome.failures.map((f) => f.key),
      [keys[2]],
    );
  assert.equal(result.resumeAfter, keys[1], 'resuming re-queues the refused key (and those after it)');
  assert.equal(result.stats.queued, 3);
});
