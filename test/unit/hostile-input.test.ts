// The hostile-input corpus (test/fixtures/hostile) through the pure parts of the
// worker: every case through parseMessageBody and checkRecord with its expected
// outcome and reason, and the cases that touch no object through processMessage
// itself, reading the raw log text it writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord } from '../../src/events/record.ts';
import { clipUtf8, quoteValue } from '../../src/events/text.ts';
import { createLogger } from '../../src/log/logger.ts';
import { MAX_LOGGED_BYTES, processMessage } from '../../src/pipeline/process-message.ts';
import { messageContext } from '../support/pipeline.ts';
import {
  loadHostileCorpus,
  reasonMatches,
  SQS_BODY_CHARACTERS,
  SQS_CLASSIC_MAX_BYTES,
  type HostileCase,
} from '../support/hostile-corpus.ts';

const corpus = loadHostileCorpus();
const rules = { bucket: 'unprocessed', prefix: '' };
const UUID_FOLDER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\//i;

describe('the corpus itself', () => {
  test('has at least 60 uniquely named cases covering every category of the issue', () => {
    assert.ok(corpus.cases.length >= 60, `${corpus.cases.length} cases`);
    const names = corpus.cases.map((c) => c.name);
    assert.equal(new Set(names).size, names.length, 'names are unique');
    for (const required of [
      'not-json/',
      'shape/',
      'record/',
      'deep/100k-nested-arrays',
      'size/as-a-string',
      'size/256KiB-',
      'versionId/null',
      'versionId/empty',
      'eTag/quoted',
      'key/newline',
      'key/carriage-return',
      'key/nul',
      'key/del',
      'key/log-forgery',
      'key/filename-dot-dot',
      'key/1024-bytes',
      'key/non-nfc',
      'bucket/another-bucket',
      'eventName/without-s3-prefix',
      'eventName/with-s3-prefix',
      'eventSource/',
      'many/',
      'sns/',
      'test-event/',
    ]) {
      assert.ok(
        names.some((n) => n.startsWith(required) || n.includes(required)),
        `a case for ${required}`,
      );
    }
  });

  test('every body is one SQS can carry: allowed characters, at most 256 KiB', () => {
    for (const c of corpus.cases) {
      assert.match(c.body, SQS_BODY_CHARACTERS, c.name);
      assert.ok(Buffer.byteLength(c.body) <= SQS_CLASSIC_MAX_BYTES, `${c.name}: ${Buffer.byteLength(c.body)} bytes`);
      assert.notEqual(c.body, '', `${c.name}: SQS refuses an empty body`);
    }
    const sizes = corpus.cases.map((c) => Buffer.byteLength(c.body));
    assert.ok(sizes.filter((s) => s === SQS_CLASSIC_MAX_BYTES).length >= 3, 'several bodies are exactly 256 KiB');
  });

  test('valid records name UUID folders, and every object the integration test uploads has its own key', () => {
    assert.equal(createHash('md5').update(corpus.cleanFile.content).digest('hex'), corpus.cleanFile.eTag);
    assert.equal(Buffer.byteLength(corpus.cleanFile.content), corpus.cleanFile.size);
    const uploaded: string[] = [];
    for (const c of corpus.cases) {
      if (c.expect.message !== 'records') continue;
      for (const r of c.expect.records) {
        if (r.outcome !== 'valid') continue;
        assert.match(r.key!, UUID_FOLDER, c.name);
        if (r.then !== 'gone') uploaded.push(r.key!);
      }
      uploaded.push(...c.expect.untouched.map((u) => u.key));
    }
    assert.equal(new Set(uploaded).size, uploaded.length, 'no two cases upload the same key');
  });
});

function checkCase(c: HostileCase): void {
  const parsed = parseMessageBody(c.body);
  assert.equal(parsed.kind, c.expect.message, parsed.kind === 'invalid' ? parsed.reason : parsed.kind);
  if (c.expect.message === 'invalid' && parsed.kind === 'invalid') assert.equal(parsed.reason, c.expect.reason);
  if (c.expect.message !== 'records' || parsed.kind !== 'records') return;
  assert.equal(parsed.records.length, c.expect.records.length, 'number of records');
  parsed.records.forEach((record, index) => {
    const expected = c.expect.message === 'records' ? c.expect.records[index]! : undefined;
    const check = checkRecord(record, rules);
    if (expected?.outcome === 'valid') {
      assert.ok(check.ok, `record ${index} should be valid: ${check.ok ? '' : check.reason}`);
      // Byte-exact: never normalised, never trimmed.
      assert.equal(check.target.key, expected.key, `record ${index} key`);
      assert.equal(check.target.key.normalize('NFC') === check.target.key, expected.key!.normalize('NFC') === expected.key);
    } else {
      assert.ok(!check.ok, `record ${index} should be invalid`);
      assert.ok(
        reasonMatches(expected!, check.reason),
        `record ${index}: reason ${JSON.stringify(check.reason)}, expected ${expected!.reason ?? `/${expected!.reasonMatches}/`}`,
      );
      if (expected!.key !== undefined) assert.equal(check.key, expected!.key, `record ${index} key`);
    }
  });
}

describe('every case through parseMessageBody and checkRecord', () => {
  for (const c of corpus.cases) test(c.name, () => checkCase(c));

  test('no case polluted Object.prototype', () => {
    for (const c of corpus.cases) checkCase(c);
    assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
    assert.equal(({} as Record<string, unknown>)['eventVersion'], undefined);
  });
});

/** Captures what a logger writes, as raw text. */
function captureLogger() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('debug', 'bucketscan', stream), text: () => chunks.join('') };
}

// Cases in which no record is valid never reach S3, SQS, SNS or clamd: any use of these fails the test.
describe('processMessage on every case that touches no object: one JSON line per outcome, bounded', () => {
  const offline = corpus.cases.filter((c) => c.expect.message !== 'records' || c.expect.records.every((r) => r.outcome === 'invalid'));

  test('there are such cases of every kind', () => {
    assert.ok(offline.some((c) => c.expect.message === 'invalid'));
    assert.ok(offline.some((c) => c.expect.message === 'test-event'));
    assert.ok(offline.some((c) => c.name.startsWith('key/log-forgery')));
    assert.ok(offline.some((c) => c.name === 'key/256KiB-body-of-key'));
  });

  for (const c of offline) {
    test(c.name, async () => {
      const capture = captureLogger();
      // Every dependency throws when reached: an invalid message must reach none.
      const result = await processMessage({ messageId: 'm-1', body: c.body, receiveCount: 1 }, messageContext(capture.logger, rules));
      assert.deepEqual(result, { action: 'delete' });

      const text = capture.text();
      assert.ok(text.endsWith('\n'));
      const raw = text.slice(0, -1).split('\n');
      const expectedLines = c.expect.message === 'records' ? c.expect.records.length : 1;
      assert.equal(raw.length, expectedLines, 'one line per outcome, no more');
      raw.forEach((line, index) => {
        assert.doesNotMatch(line, /[\u0085\u2028\u2029]/, 'no character a reader could take for a line break');
        assert.ok(Buffer.byteLength(line) <= 4 * MAX_LOGGED_BYTES, `line ${index} is ${Buffer.byteLength(line)} bytes`);
        const parsed = JSON.parse(line) as Record<string, unknown>;
        assert.equal(parsed['forged'], undefined);
        assert.notEqual(parsed['msg'], 'forged');
        assert.equal(parsed['messageId'], 'm-1');
        if (c.expect.message === 'test-event') {
          assert.equal(parsed['outcome'], 'test-event');
          return;
        }
        assert.equal(parsed['outcome'], 'invalid');
        assert.equal(parsed['level'], 'warn');
        if (c.expect.message === 'invalid') {
          assert.equal(parsed['reason'], c.expect.reason);
          return;
        }
        const expected = c.expect.message === 'records' ? c.expect.records[index]! : undefined;
        assert.equal(parsed['record'], index);
        assert.ok(reasonMatches(expected!, parsed['reason']), String(parsed['reason']));
        assert.equal(parsed['msg'], `record dropped: ${String(parsed['reason'])}`);
        if (expected?.key !== undefined) {
          const clipped = clipUtf8(expected.key, MAX_LOGGED_BYTES);
          // A key within S3's limit is logged whole; a longer one, clipped with its length.
          assert.equal(parsed['key'], clipped.clipped ? `${clipped.text}…` : expected.key);
          assert.equal(parsed['keyBytes'], clipped.clipped ? clipped.bytes : undefined);
        }
      });
    });
  }
});

describe('bounded text', () => {
  test('clipUtf8 cuts on a code point boundary and reports the full length', () => {
    assert.deepEqual(clipUtf8('abc', 3), { text: 'abc', clipped: false, bytes: 3 });
    assert.deepEqual(clipUtf8('aé', 2), { text: 'a', clipped: true, bytes: 3 });
    assert.deepEqual(clipUtf8('a😀b', 4), { text: 'a', clipped: true, bytes: 6 });
    assert.deepEqual(clipUtf8('😀😀', 4), { text: '😀', clipped: true, bytes: 8 });
  });

  test('quoteValue escapes what could break a line and shortens long values', () => {
    assert.equal(quoteValue('a\nb"c'), '"a\\nb\\"c"');
    assert.equal(quoteValue('x'.repeat(300), 10), `"${'x'.repeat(10)}"… (300 bytes)`);
  });

  test('the logger escapes the line breaks JSON leaves raw, and lone surrogates', () => {
    const capture = captureLogger();
    const key = 'a\u2028b\u2029c\u0085d\ud800e"\\\n\rf😀';
    capture.logger.warn({ key }, 'k %s', key);
    const text = capture.text();
    assert.equal(text.split('\n').length, 2, 'one line and the final newline');
    assert.doesNotMatch(text, /[\u0085\u2028\u2029]/);
    assert.ok(text.includes('\\u2028') && text.includes('\\ud800') && text.includes('😀'));
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal(parsed['key'], key, 'the value survives exactly');
    assert.equal(parsed['msg'], `k ${key}`);
  });
});
