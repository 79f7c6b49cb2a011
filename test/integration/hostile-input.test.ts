// The whole hostile-input corpus (test/fixtures/hostile) sent over HTTP to the
// emulator's inbound queue and taken by a real worker with a real clamd. Each
// message must be deleted with the outcome the contract gives it, logged as one
// JSON line per record; valid records must reach their real outcome; the worker
// must still be working afterwards; and no log line may be forged or unbounded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { decodeEventKey } from '../../src/events/key.ts';
import { clipUtf8 } from '../../src/events/text.ts';
import { buildEventDocument, buildObjectCreatedRecord } from '../../src/events/s3-event.ts';
import { MAX_LOGGED_BYTES } from '../../src/pipeline/process-message.ts';
import { loadHostileCorpus, reasonMatches, type HostileCase } from '../support/hostile-corpus.ts';
import { eicar } from '../support/samples.ts';
import { outcomeFor, RESOURCES, startTestClamd, startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const corpus = loadHostileCorpus();

/** What the worker logs as `outcome` for each expected record. */
function loggedOutcome(expected: { outcome: 'invalid' | 'valid'; then?: string }): string {
  if (expected.outcome === 'invalid') return 'invalid';
  return expected.then === 'clean' ? 'clean' : expected.then === 'infected' ? 'infected' : 'dropped';
}

const expectedLines = (c: HostileCase) => (c.expect.message === 'records' ? c.expect.records.length : 1);
const firstKey = (message: Message): string | undefined => {
  const key = (JSON.parse(message.Body!) as { Records?: Array<{ s3: { object: { key: string } } }> }).Records?.[0]?.s3.object.key;
  if (key === undefined) return undefined;
  const decoded = decodeEventKey(key);
  return decoded.ok ? decoded.key : undefined;
};
const notifiedKey = (message: Message) => (JSON.parse(JSON.parse(message.Body!).Message as string) as { key: string }).key;

let clamd: Awaited<ReturnType<typeof startTestClamd>>;
before(async () => {
  clamd = await startTestClamd({ maxFileSizeMb: 16 });
});
after(async () => {
  await clamd?.stop();
});

describe('the hostile-input corpus against a real worker', () => {
  let stack: TestStack;
  const messageIds = new Map<string, string>();
  const clean = new Set<string>();
  const infected = new Set<string>();
  const untouched = new Map<string, 'clean' | 'infected'>();

  before(async () => {
    stack = await startTestStack({ clamd: clamd.clamd.address, notifications: false });
    for (const c of corpus.cases) {
      if (c.expect.message !== 'records') continue;
      for (const r of c.expect.records) {
        if (r.then === 'clean') clean.add(r.key!);
        if (r.then === 'infected') infected.add(r.key!);
      }
      for (const { key, content } of c.expect.untouched) untouched.set(key, content);
    }
    for (const key of clean) await stack.put(key, corpus.cleanFile.content);
    for (const key of infected) await stack.put(key, eicar());
    for (const [key, content] of untouched) await stack.put(key, content === 'clean' ? corpus.cleanFile.content : eicar());
    stack.startWorker();
    for (const c of corpus.cases) {
      const sent = await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.emulator.queueUrls.inbound, MessageBody: c.body }));
      assert.ok(sent.MessageId, c.name);
      messageIds.set(c.name, sent.MessageId);
    }
  });
  after(async () => {
    await stack?.stop();
  });

  const linesOf = (c: HostileCase) =>
    stack.logs.lines.filter((l) => l['messageId'] === messageIds.get(c.name) && typeof l['outcome'] === 'string');

  for (const c of corpus.cases) {
    test(c.name, async () => {
      const lines = await waitFor(`${expectedLines(c)} outcome line(s) for ${c.name}`, () => {
        const found = linesOf(c);
        return found.length >= expectedLines(c) ? found : undefined;
      });
      if (c.expect.message === 'invalid') {
        assert.equal(lines[0]!['outcome'], 'invalid');
        assert.equal(lines[0]!['level'], 'warn');
        assert.equal(lines[0]!['reason'], c.expect.reason);
        assert.equal(lines[0]!['msg'], `message dropped: ${c.expect.reason}`);
        return;
      }
      if (c.expect.message === 'test-event') {
        assert.equal(lines[0]!['outcome'], 'test-event');
        return;
      }
      const sentRecords =
        (JSON.parse(c.body) as { Records?: unknown[]; Type?: string; Message?: string }).Records ??
        (JSON.parse((JSON.parse(c.body) as { Message: string }).Message) as { Records: unknown[] }).Records;
      for (const [index, expected] of c.expect.records.entries()) {
        const line = lines.find((l) => l['record'] === index);
        assert.ok(line, `a line for record ${index}`);
        assert.equal(line['outcome'], loggedOutcome(expected), `record ${index}: ${String(line['reason'] ?? '')}`);
        if (expected.outcome === 'invalid') {
          assert.ok(reasonMatches(expected, line['reason']), `record ${index}: reason ${JSON.stringify(line['reason'])}`);
          if (expected.key !== undefined) {
            const clipped = clipUtf8(expected.key, MAX_LOGGED_BYTES);
            assert.equal(line['key'], clipped.clipped ? `${clipped.text}…` : expected.key, `record ${index}: logged key`);
            assert.equal(line['keyBytes'], clipped.clipped ? clipped.bytes : undefined);
          }
          continue;
        }
        // Valid: the logged key is the object's key, byte for byte.
        assert.equal(line['key'], expected.key, `record ${index}: logged key`);
        if (expected.then === 'gone') {
          assert.equal(line['reason'], 'object no longer exists');
        } else if (expected.then === 'clean') {
          const forwarded = await stack.message('validation', (m) => firstKey(m) === expected.key);
          assert.deepEqual(JSON.parse(forwarded.Body!), { Records: [sentRecords[index]] }, 'the record is forwarded unchanged');
          assert.equal(forwarded.MessageAttributes?.['status']?.StringValue, 'CLEAN');
          assert.equal(await stack.exists(RESOURCES.unprocessedBucket, expected.key!), true);
        } else {
          await stack.message('notification', (m) => notifiedKey(m) === expected.key);
          assert.equal(await stack.exists(RESOURCES.quarantineBucket, expected.key!), true, 'quarantined');
          assert.equal(await stack.exists(RESOURCES.unprocessedBucket, expected.key!), false, 'removed from the unprocessed bucket');
        }
      }
      for (const { key } of c.expect.untouched) {
        assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), true, `${key} stays`);
        assert.equal(await stack.exists(RESOURCES.quarantineBucket, key), false, `${key} is not quarantined`);
      }
    });
  }

  test('every message was deleted: none left on the inbound queue or in the dead-letter queue', async () => {
    await waitFor('the inbound queue to be empty', () => {
      const state = stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
      return state.messages.ready.length + state.messages.inflight.length + state.messages.delayed.length === 0 ? true : undefined;
    });
    const dlq = stack.emulator.server.inspectQueue(RESOURCES.deadLetterQueueName)!;
    assert.equal(dlq.messages.ready.length + dlq.messages.inflight.length + dlq.messages.delayed.length, 0);
    assert.deepEqual(
      stack.logs.lines.filter((l) => l['outcome'] === 'retry' || l['level'] === 'error' || l['level'] === 'fatal'),
      [],
    );
    // Exactly one line per outcome: nothing handled twice, nothing extra.
    for (const c of corpus.cases) assert.equal(linesOf(c).length, expectedLines(c), c.name);
  });

  test('only the clean files were forwarded and only the infected ones reported; the untouched files are untouched', async () => {
    const forwarded = (await stack.received('validation')).map(firstKey);
    assert.deepEqual(forwarded.toSorted(), [...clean].toSorted());
    const reported = (await stack.received('notification')).map(notifiedKey);
    assert.deepEqual(reported.toSorted(), [...infected].toSorted());
    for (const key of untouched.keys()) {
      assert.equal(await stack.exists(RESOURCES.unprocessedBucket, key), true, key);
      assert.equal(await stack.exists(RESOURCES.quarantineBucket, key), false, key);
    }
  });

  test('the worker is still running: one more normal upload is scanned and forwarded', async () => {
    const key = `${randomUUID()}/after-the-corpus.txt`;
    await stack.put(key, 'still here\n');
    const head = await stack.s3.send(new HeadObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: key }));
    const record = buildObjectCreatedRecord({
      bucket: RESOURCES.unprocessedBucket,
      key,
      size: head.ContentLength!,
      eTag: head.ETag!.replace(/"/g, ''),
      eventName: 'ObjectCreated:Put',
      region: RESOURCES.region,
      eventTime: new Date(),
      sequencer: '0000000000000000A1',
    });
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.emulator.queueUrls.inbound, MessageBody: JSON.stringify(buildEventDocument([record])) }),
    );
    await outcomeFor(stack.logs, key, 'clean');
    await stack.message('validation', (m) => firstKey(m) === key);
  });

  test('the raw log: one JSON object per line, nothing forged, nothing unbounded', () => {
    const { raw, lines } = stack.logs;
    assert.equal(raw.length, lines.length);
    const sent = new Set(messageIds.values());
    let outcomes = 0;
    for (const [index, text] of raw.entries()) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `line ${index} is an object`);
      assert.doesNotMatch(text, /[\u0085\u2028\u2029]/, `line ${index} holds no character a reader could take for a line break`);
      assert.ok(Buffer.byteLength(text) <= 4 * MAX_LOGGED_BYTES, `line ${index} is ${Buffer.byteLength(text)} bytes`);
      assert.equal(parsed['forged'], undefined, `line ${index}: ${text.slice(0, 300)}`);
      assert.notEqual(parsed['msg'], 'forged', `line ${index}`);
      assert.ok(['debug', 'info', 'warn'].includes(String(parsed['level'])), `line ${index} level ${String(parsed['level'])}`);
      if (typeof parsed['outcome'] === 'string' && sent.has(String(parsed['messageId']))) outcomes += 1;
    }
    // Every outcome line belongs to a message that was sent, and there are exactly as many as expected:
    // a key that could forge a line would add one.
    const expected = corpus.cases.reduce((total, c) => total + expectedLines(c), 0);
    assert.equal(outcomes, expected);
    assert.equal(lines.filter((l) => typeof l['outcome'] === 'string').length, expected + 1, '+1: the upload after the corpus');
    // The forgery attempts are in the log, as plain values of one line each.
    const forgeries = lines.filter((l) => typeof l['key'] === 'string' && (l['key'] as string).includes('"msg":"forged"'));
    assert.ok(forgeries.length >= 4, `${forgeries.length} forgery attempts logged as values`);
  });
});
