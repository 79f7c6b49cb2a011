/**
 * Property-based tests of the message-body parser (fast-check): random strings,
 * random JSON, and mutations of real S3 event documents and of the hostile corpus
 * go through parseMessageBody, checkRecord and processMessage. None may throw;
 * every record yields either a target that satisfies the key rules (checked with
 * the same validators) or a non-empty, bounded reason; and every log line is one
 * line of valid JSON no longer than the bound derived below from MAX_LOGGED_BYTES.
 *
 * Seeds: FC_SEED=<n> replays a run; with CI=true the seed is fixed; otherwise each
 * run draws a new one. A failure names its seed. FC_RUNS sets the runs per property.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../src/log/logger.ts';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord, type RecordRules, type ScanTarget } from '../../src/events/record.ts';
import { checkKeyText, decodeEventKey, MAX_KEY_BYTES, parseSubmissionKey } from '../../src/events/key.ts';
import { utf8Bytes } from '../../src/events/text.ts';
import { MAX_LOGGED_BYTES, MAX_RECORD_LINES, processMessage } from '../../src/pipeline/process-message.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { emptyObject, messageContext, pipelineDeps } from '../support/pipeline.ts';
import type { OutgoingMessage } from '../../src/aws/queue.ts';
import { loadHostileCorpus } from '../support/hostile-corpus.ts';

// ---------------------------------------------------------------- settings

const CI_SEED = 20_261_130;

function chooseSeed(): number {
  const given = process.env['FC_SEED'];
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(given)}`);
    return seed;
  }
  if (process.env['CI'] === 'true') return CI_SEED;
  return Math.floor(Math.random() * 0x7fff_ffff);
}

function chooseRuns(): number {
  const given = process.env['FC_RUNS'];
  if (given === undefined || given === '') return 500;
  const runs = Number(given);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`FC_RUNS must be a positive integer, got ${JSON.stringify(given)}`);
  return runs;
}

const SEED = chooseSeed();
const RUNS = chooseRuns();

/** fc.assert with the run's seed, and the seed (and how to replay it) in any failure. */
async function check<T>(property: fc.IProperty<T> | fc.IAsyncProperty<T>, runs = RUNS): Promise<void> {
  try {
    await fc.assert(property as fc.IAsyncProperty<T>, { seed: SEED, numRuns: runs });
  } catch (error) {
    if (error instanceof Error) error.message = `replay with FC_SEED=${SEED}\n${error.message}`;
    throw error;
  }
}

// ---------------------------------------------------------------- the bound

/**
 * The longest log line processMessage may write. Each line carries at most four
 * values that come from the message: `key`, `bucket`, `reason` or `versionId`, and
 * the message text (which quotes the reason). processMessage cuts each to
 * MAX_LOGGED_BYTES of UTF-8 plus "…" (3 bytes), and the message text adds a short
 * fixed prefix ("record dropped: "). JSON escaping grows a value at most sixfold
 * (a 1-byte control character becomes \u00XX; U+2028, U+2029 and a lone surrogate,
 * 3 bytes each, become 6-byte escapes). Everything else on a line is fixed names,
 * numbers and the messageId: well under 2 KiB.
 */
const UNTRUSTED_FIELDS_PER_LINE = 4;
const MAX_FIELD_BYTES = MAX_LOGGED_BYTES + 3 + 64;
const MAX_LINE_BYTES = UNTRUSTED_FIELDS_PER_LINE * 6 * MAX_FIELD_BYTES + 2048;

// ---------------------------------------------------------------- arbitraries

const RULES: RecordRules[] = [
  { bucket: 'unprocessed', prefix: '' },
  { bucket: 'unprocessed', prefix: 'incoming/' },
];

/** Pieces that have broken parsers and log lines before, mixed into random text. */
const FRAGMENTS = [
  '\n',
  '\r',
  '\r\n',
  '\t',
  '\u0000',
  '\u007f',
  '\u0085',
  '\u2028',
  '\u2029',
  '\u001b[31m',
  '\u009b',
  '\u202e',
  '\u200b',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  'e\u0301',
  '"',
  '\\',
  "'",
  '/',
  '//',
  '.',
  '..',
  '+',
  ' ',
  '%',
  '%2',
  '%2F',
  '%2B',
  '%20',
  '%0A',
  '%00',
  '%C0%AF',
  '%ED%A0%80',
  '%E2%80%A8',
  '%F0%9F%98%80',
  '%FF',
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  'null',
  '__proto__',
  'constructor',
  's3:',
  'ObjectCreated:',
  'ObjectRemoved:',
  '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34',
  'incoming/',
];

const hostileUnit = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
);
const hostileString = fc.string({ unit: hostileUnit, maxLength: 40 });
/** Sometimes far past every limit (1024-byte keys, 100-byte quotes in reasons). */
const longString = fc.tuple(hostileString, fc.integer({ min: 1, max: 300 })).map(([text, times]) => text.repeat(times).slice(0, 6_000));
const anyString = fc.oneof({ weight: 4, arbitrary: hostileString }, { weight: 1, arbitrary: longString });

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const anyValue = fc.oneof(
  { weight: 3, arbitrary: jsonValue },
  { weight: 2, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constantFrom(null, 0, -1, 1.5, true, '', [], {}) },
);

/** Encodes a key the way S3 does in events: form encoding, a space as `+`. */
function formEncode(key: string): string {
  try {
    return encodeURIComponent(key).replace(/%20/g, '+');
  } catch {
    return key; // a lone surrogate cannot be encoded; send it raw
  }
}

const filename = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }) },
  { weight: 2, arbitrary: anyString },
);
/** Keys in `prefix` (mostly), encoded as S3 encodes them (mostly). */
function encodedKey(prefix: string): fc.Arbitrary<unknown> {
  const keyText = fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(prefix) },
        { weight: 1, arbitrary: fc.constantFrom('', 'incoming/', 'other/', 'incoming', '/') },
      ),
      fc.oneof({ weight: 8, arbitrary: fc.uuid() }, { weight: 1, arbitrary: hostileString }),
      filename,
    )
    .map(([folder, guid, name]) => `${folder}${guid}/${name}`);
  return fc.oneof(
    { weight: 4, arbitrary: keyText.map(formEncode) },
    { weight: 1, arbitrary: keyText },
    { weight: 1, arbitrary: anyString },
  );
}

const optionalField = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 3 });
/** Mostly what S3 sends, sometimes anything: enough valid records to test both sides. */
const usually = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: plausible }, { weight: 1, arbitrary: anyValue });

/** A record shaped like S3's, with every field drawn from plausible and hostile values. */
const s3Record = (rules: RecordRules) =>
  fc
    .record({
      eventVersion: usually(fc.constantFrom('2.1', '2.2', '2.0')),
      eventSource: optionalField(usually(fc.constant('aws:s3'))),
      eventName: fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom('ObjectCreated:Put', 's3:ObjectCreated:Copy', 'ObjectCreated:CompleteMultipartUpload') },
        { weight: 1, arbitrary: fc.constantFrom('ObjectRemoved:Delete', 's3:TestEvent') },
        { weight: 1, arbitrary: anyValue },
      ),
      eventTime: usually(fc.constant('2026-11-21T10:00:00.000Z')),
      bucket: usually(fc.constant(rules.bucket)),
      key: usually(encodedKey(rules.prefix)),
      size: optionalField(
        fc.oneof(
          { weight: 6, arbitrary: fc.nat() },
          { weight: 1, arbitrary: fc.constantFrom('123', ' 1 ', '0x10', -1, 1.5, 2 ** 60, null, '') },
          { weight: 1, arbitrary: anyValue },
        ),
      ),
      eTag: optionalField(
        fc.oneof(
          { weight: 6, arbitrary: fc.stringMatching(/^"?[0-9a-f]{32}(-[0-9]{1,3})?"?$/) },
          { weight: 1, arbitrary: fc.constantFrom('', null, '"', '""x""') },
          { weight: 1, arbitrary: anyValue },
        ),
      ),
      versionId: optionalField(
        fc.oneof(
          { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9._]{1,40}$/) },
          { weight: 1, arbitrary: fc.constantFrom('', null, 'null') },
          { weight: 1, arbitrary: anyValue },
        ),
      ),
    })
    .map((r) => ({
      eventVersion: r.eventVersion,
      ...(r.eventSource === undefined ? {} : { eventSource: r.eventSource }),
      awsRegion: 'us-west-2',
      eventName: r.eventName,
      eventTime: r.eventTime,
      s3: {
        s3SchemaVersion: '1.0',
        bucket: { name: r.bucket, arn: 'arn:aws:s3:::unprocessed' },
        object: {
          key: r.key,
          ...(r.size === undefined ? {} : { size: r.size }),
          ...(r.eTag === undefined ? {} : { eTag: r.eTag }),
          ...(r.versionId === undefined ? {} : { versionId: r.versionId }),
          sequencer: '0055AED6DCD90281E5',
        },
      },
    }));

/** A document wrapped in an SNS envelope, as S3 → SNS → SQS delivers it without raw delivery. */
function snsEnvelope(message: string): string {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-west-2:123456789012:s3-events',
    Message: message,
  });
}

const builtBody = (rules: RecordRules) =>
  fc
    .tuple(
      fc.array(fc.oneof({ weight: 6, arbitrary: s3Record(rules) }, { weight: 1, arbitrary: anyValue }), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
    )
    .map(([records, wrapped]) => {
      const document = JSON.stringify({ Records: records });
      return wrapped ? snsEnvelope(document) : document;
    });

// Real documents to mutate: the S3 event fixtures and the smaller bodies of the hostile corpus.
const FIXTURE_DIR = new URL('../fixtures/events/', import.meta.url);
const REAL_BODIES = [
  ...['aws-docs-put.json', 'sns-envelope.json', 's3-test-event.json'].map((name) => readFileSync(new URL(name, FIXTURE_DIR), 'utf8')),
  ...loadHostileCorpus()
    .cases.map((c) => c.body)
    .filter((body) => Buffer.byteLength(body) <= 8 * 1024),
];

type Mutation = { at: number; kind: 'replace' | 'string' | 'delete' | 'duplicate' | 'nest'; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('replace', 'string', 'string', 'delete', 'duplicate', 'nest'),
  value: anyValue,
});

/** Every container and leaf of a JSON value with its parent, found without recursion. */
function locations(root: unknown): Array<{ parent: Record<string, unknown> | unknown[]; name: string | number }> {
  const found: Array<{ parent: Record<string, unknown> | unknown[]; name: string | number }> = [];
  const pending: unknown[] = [root];
  while (pending.length > 0 && found.length < 10_000) {
    const current = pending.pop();
    if (Array.isArray(current)) {
      current.forEach((child, index) => {
        found.push({ parent: current, name: index });
        pending.push(child);
      });
    } else if (typeof current === 'object' && current !== null) {
      for (const [name, child] of Object.entries(current)) {
        found.push({ parent: current as Record<string, unknown>, name });
        pending.push(child);
      }
    }
  }
  return found;
}

/** Applies structural mutations to a parsed JSON document, in place. */
function mutate(root: unknown, mutations: Mutation[]): unknown {
  let document = root;
  for (const m of mutations) {
    const all = locations(document);
    if (all.length === 0) {
      document = m.value;
      continue;
    }
    const { parent, name } = all[m.at % all.length]!;
    const get = () => (parent as Record<string | number, unknown>)[name];
    const set = (value: unknown) => ((parent as Record<string | number, unknown>)[name] = value);
    switch (m.kind) {
      case 'replace':
        set(m.value);
        break;
      case 'string': {
        const current = get();
        const extra = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
        set(
          typeof current === 'string'
            ? `${current.slice(0, m.at % (current.length + 1))}${extra}${current.slice(m.at % (current.length + 1))}`
            : extra,
        );
        break;
      }
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(name), 1);
        else delete parent[name as string];
        break;
      case 'duplicate':
        if (Array.isArray(parent)) parent.push(structuredClone(get()));
        else set([get(), get()]);
        break;
      case 'nest': {
        let value = get();
        for (let i = 0; i < 20 + (m.at % 20); i++) value = i % 2 ? [value] : { a: value };
        set(value);
        break;
      }
    }
  }
  return document;
}

/** A real body with structural mutations of its JSON (and of the SNS envelope's inner document). */
const mutatedBody = fc
  .tuple(fc.constantFrom(...REAL_BODIES), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([body, mutations, inner]) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return body;
    }
    const envelope = parsed as { Type?: unknown; Message?: unknown };
    if (inner && envelope?.Type === 'Notification' && typeof envelope.Message === 'string') {
      try {
        envelope.Message = JSON.stringify(mutate(JSON.parse(envelope.Message), mutations));
        return JSON.stringify(envelope);
      } catch {
        // The inner message is not JSON: mutate the envelope instead.
      }
    }
    return JSON.stringify(mutate(parsed, mutations));
  });

/** A real body with characters deleted and hostile text inserted at random places. */
const splicedBody = fc
  .tuple(fc.constantFrom(...REAL_BODIES), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 4 }), hostileString), { minLength: 1, maxLength: 4 }))
  .map(([body, edits]) => {
    let text = body;
    for (const [at, remove, insert] of edits) {
      const position = at % (text.length + 1);
      text = text.slice(0, position) + insert + text.slice(position + remove);
    }
    return text;
  });

/** A body and the rules it is checked against (built records mostly follow them). */
const bodyAndRules = fc.oneof(
  ...RULES.map((rules) =>
    fc.tuple(
      fc.oneof(
        { weight: 1, arbitrary: anyString },
        { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
        { weight: 3, arbitrary: builtBody(rules) },
        { weight: 3, arbitrary: mutatedBody },
        { weight: 2, arbitrary: splicedBody },
      ),
      fc.constant(rules),
    ),
  ),
);

// ---------------------------------------------------------------- the checks

const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/;

/** What checkRecord promises about a record it accepts, re-derived with the same validators. */
function assertValidTarget(target: ScanTarget, record: unknown, rules: RecordRules): void {
  const object = (record as { s3: { object: { key: string } } }).s3.object;
  assert.equal(target.record, record, 'the target carries the record as received');
  assert.equal(target.bucket, rules.bucket);
  const decoded = decodeEventKey(object.key);
  assert.ok(decoded.ok, 'the key decodes');
  assert.equal(target.key, decoded.key, 'the key is the decoded event key, not normalised');
  assert.deepEqual(checkKeyText(target.key), { ok: true });
  assert.ok(utf8Bytes(target.key) <= MAX_KEY_BYTES);
  const layout = parseSubmissionKey(target.key, rules.prefix);
  assert.ok(layout.ok, 'the key follows the layout');
  assert.equal(target.submissionGuid, layout.value.submissionGuid);
  assert.equal(target.filename, layout.value.filename);
  assert.ok(target.eventName.startsWith('ObjectCreated:'), target.eventName);
  assert.ok(target.size === undefined || (Number.isSafeInteger(target.size) && target.size >= 0), String(target.size));
  for (const token of [target.eTag, target.versionId]) {
    assert.ok(token === undefined || (PRINTABLE_TOKEN.test(token) && token.length <= 1024), JSON.stringify(token));
  }
  assert.ok(target.eTag === undefined || !target.eTag.includes('"'));
}

function assertReason(reason: unknown): void {
  assert.equal(typeof reason, 'string');
  assert.ok((reason as string).length > 0, 'a reason is never empty');
  assert.ok(utf8Bytes(reason as string) <= MAX_LOGGED_BYTES, `a reason fits in a log field: ${utf8Bytes(reason as string)} bytes`);
}

const stats = { bodies: 0, records: 0, valid: 0 };

test(`parseMessageBody and checkRecord never throw and always give a target or a reason (seed ${SEED})`, async (t) => {
  await check(
    fc.property(bodyAndRules, ([body, rules]) => {
      stats.bodies += 1;
      const parsed = parseMessageBody(body);
      if (parsed.kind === 'invalid') return assertReason(parsed.reason);
      if (parsed.kind === 'test-event') return;
      assert.equal(parsed.kind, 'records');
      assert.ok(parsed.records.length > 0);
      for (const record of parsed.records) {
        stats.records += 1;
        const result = checkRecord(record, rules);
        if (result.ok) {
          stats.valid += 1;
          assertValidTarget(result.target, record, rules);
        } else {
          assertReason(result.reason);
          assert.ok(result.bucket === undefined || typeof result.bucket === 'string');
          assert.ok(result.key === undefined || typeof result.key === 'string');
        }
      }
    }),
    RUNS * 4,
  );
  t.diagnostic(`seed ${SEED}: ${stats.bodies} bodies, ${stats.records} records, ${stats.valid} valid`);
  // The generators must reach both sides of the decision, or the test proves little.
  assert.ok(stats.valid > 0, `no valid record was generated (${JSON.stringify(stats)})`);
  assert.ok(stats.records > stats.valid, `no invalid record was generated (${JSON.stringify(stats)})`);
});

test('an undefined body and blank bodies are reasons too', () => {
  for (const body of [undefined, '', ' ', '\n\t']) assertReason((parseMessageBody(body) as { reason: string }).reason);
});

/**
 * Dependencies for processMessage that never reach AWS or clamd: every object
 * exists, is empty and scans clean; forwarded messages are kept. Only the
 * classification and the log lines are under test here.
 */
function fakeDeps(forwarded: OutgoingMessage[]): PipelineDeps {
  return pipelineDeps({
    objects: {
      open: async (version) => emptyObject(version),
    },
    // SNS is left out: it must not be used for clean files.
    scanner: {
      scan: async (source) => {
        for await (const chunk of source) void chunk;
        return { status: 'clean' };
      },
    },
    forwarder: { forward: async (message) => void forwarded.push(message) },
    engine: async () => null,
    now: () => new Date('2026-11-21T10:00:00.000Z'),
  });
}

test('the worst lines known (every untrusted field long and made of control characters) stay within the bound', async () => {
  const chunks: string[] = [];
  const sink: DestinationStream = { write: (chunk: string) => void chunks.push(chunk) };
  const controls = '\u0001'.repeat(6_000);
  const record = (bucket: string, key: string) => ({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    eventTime: '2026-11-21T10:00:00.000Z',
    s3: { bucket: { name: bucket }, object: { key } },
  });
  const body = JSON.stringify({
    Records: [
      record(controls, formEncode(controls)),
      record('unprocessed', formEncode(`3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34/${controls}`)),
    ],
  });
  await processMessage(
    { messageId: 'm-1', body, receiveCount: 1 },
    messageContext(createLogger('debug', 'bucketscan', sink), RULES[0]!, fakeDeps([])),
  );
  assert.equal(chunks.length, 2);
  for (const chunk of chunks) {
    const bytes = Buffer.byteLength(chunk) - 1;
    assert.ok(bytes > 6 * MAX_LOGGED_BYTES, `the case is as bad as intended: ${bytes} bytes`);
    assert.ok(bytes <= MAX_LINE_BYTES, `${bytes} bytes`);
  }
});

/** Characters JSON may carry raw that some readers take as a line break, and lone surrogates. */
const RAW_LINE_BREAK = /[\u0085\u2028\u2029]/;

test(`processMessage never throws and logs only bounded single lines of JSON (seed ${SEED}, line bound ${MAX_LINE_BYTES} bytes)`, async (t) => {
  let longest = 0;
  let clipped = 0;
  await check(
    fc.asyncProperty(bodyAndRules, async ([body, rules]) => {
      const chunks: string[] = [];
      const sink: DestinationStream = { write: (chunk: string) => void chunks.push(chunk) };
      const forwarded: OutgoingMessage[] = [];
      const result = await processMessage(
        { messageId: '5fea7756-0ea4-451a-a703-a558b933e274', body, receiveCount: 1 },
        messageContext(createLogger('debug', 'bucketscan', sink), rules, fakeDeps(forwarded)),
      );
      assert.deepEqual(result, { action: 'delete' }, 'with dependencies that never fail, every message is finished');

      const parsed = parseMessageBody(body);
      const records = parsed.kind === 'records' ? parsed.records.length : 0;
      assert.ok(chunks.length >= 1, 'every message leaves at least one line');
      assert.ok(
        chunks.length <= Math.min(records, MAX_RECORD_LINES) + 1 || chunks.length <= 1,
        `${chunks.length} lines for ${records} records`,
      );
      for (const chunk of chunks) {
        assert.ok(chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1, 'one write is one line');
        const line = chunk.slice(0, -1);
        const bytes = Buffer.byteLength(line);
        longest = Math.max(longest, bytes);
        assert.ok(bytes <= MAX_LINE_BYTES, `a ${bytes}-byte line`);
        assert.doesNotMatch(line, RAW_LINE_BREAK);
        assert.ok(line.isWellFormed(), 'no lone surrogate reaches the log');
        const entry = JSON.parse(line) as Record<string, unknown>;
        assert.equal(typeof entry, 'object');
        if ('keyBytes' in entry || 'reasonBytes' in entry || 'bucketBytes' in entry) clipped += 1;
        for (const [name, value] of Object.entries(entry)) {
          if (typeof value === 'string') assert.ok(utf8Bytes(value) <= MAX_FIELD_BYTES, `field ${name} is ${utf8Bytes(value)} bytes`);
        }
        assert.ok(['invalid', 'clean', 'test-event', undefined].includes(entry['outcome'] as string | undefined), String(entry['outcome']));
      }
      // Every forwarded message is the record alone, as JSON the next stage can read.
      for (const message of forwarded) {
        const document = JSON.parse(message.body) as { Records: unknown[] };
        assert.equal(document.Records.length, 1);
      }
    }),
  );
  t.diagnostic(`seed ${SEED}: longest line ${longest} bytes, ${clipped} lines with a clipped field`);
  // Values past MAX_LOGGED_BYTES must have been generated, or the bound was not tested.
  assert.ok(clipped > 0, 'no line had a clipped field');
});
