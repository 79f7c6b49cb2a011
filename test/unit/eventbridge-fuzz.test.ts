/**
 * Property-based tests of the EventBridge shape (fast-check), beside
 * message-fuzz.test.ts for S3's: built "Object Created" events with hostile keys
 * and fields, and random text spliced into a real one, go through
 * parseMessageBody, checkEventBridgeEvent and processMessage, under one source or
 * several. None may throw; an accepted event names an object a source scans, by
 * the same decoded key its forwarded S3 record encodes; a refused one has a short
 * reason; every log line is one bounded line of JSON.
 *
 * Seeds: FC_SEED=<n> replays a run; with CI=true the seed is fixed; FC_RUNS sets the runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../src/log/logger.ts';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkEventBridgeEvent } from '../../src/events/eventbridge.ts';
import { checkRecord, type RecordCheck, type RecordRules, type ScanTarget } from '../../src/events/record.ts';
import { encodeEventKey } from '../../src/events/s3-event.ts';
import { decodeEventKey, MAX_KEY_BYTES } from '../../src/events/key.ts';
import { utf8Bytes } from '../../src/events/text.ts';
import { MAX_LOGGED_BYTES, processMessage } from '../../src/pipeline/process-message.ts';
import { emptyObject, pipelineDeps, pipelineSettings, testSource } from '../support/pipeline.ts';

const SEED = process.env['FC_SEED']
  ? Number(process.env['FC_SEED'])
  : process.env['CI'] === 'true'
    ? 20_261_206
    : Math.floor(Math.random() * 0x7fff_ffff);
const RUNS = Number(process.env['FC_RUNS'] || 300);

async function check<T>(property: fc.IProperty<T> | fc.IAsyncProperty<T>): Promise<void> {
  try {
    await fc.assert(property as fc.IAsyncProperty<T>, { seed: SEED, numRuns: RUNS });
  } catch (error) {
    if (error instanceof Error) error.message = `replay with FC_SEED=${SEED}\n${error.message}`;
    throw error;
  }
}

const SOURCES: Array<RecordRules & { name: string }> = [
  { name: 'submission', bucket: 'unprocessed', prefix: '', keyLayout: 'submission' },
  { name: 'any', bucket: 'imports', prefix: 'in/', keyLayout: 'any' },
];

const FRAGMENTS = [
  '\n',
  '\u0000',
  '\u007f',
  '\u2028',
  '\ud800',
  '\ud83d\ude00',
  'e\u0301',
  '"',
  '\\',
  '/',
  '..',
  '+',
  ' ',
  '%',
  '%2B',
  '%0A',
  '%C0%AF',
  '%FF',
  'null',
  '__proto__',
];
const hostile = fc
  .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })), {
    maxLength: 12,
  })
  .map((parts) => parts.join(''));
const keyPart = fc.oneof(hostile, fc.constant('3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34/a b+c.txt'), fc.constant('in/any/path/ü.csv'));

/** An event that is mostly well-formed: the key, bucket and some fields hostile or odd. */
const builtEvent = fc
  .record({
    bucket: fc.constantFrom('unprocessed', 'imports', 'elsewhere'),
    key: keyPart,
    encode: fc.boolean(),
    size: fc.oneof(fc.nat(), fc.constant(-1), fc.constant('12'), fc.constant(null), fc.constant(undefined)),
    etag: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), hostile, fc.constant(undefined)),
    version: fc.oneof(fc.constant('null'), fc.constant(undefined), fc.string({ maxLength: 40 })),
    reason: fc.oneof(fc.constantFrom('PutObject', 'POST Object', 'CopyObject', 'CompleteMultipartUpload', 'ObjectCreated'), hostile),
    spellETag: fc.boolean(),
  })
  .map((e) => ({
    version: '0',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    time: '2026-11-21T10:00:00Z',
    region: 'eu-west-1',
    detail: {
      bucket: { name: e.bucket },
      object: {
        key: e.encode ? encodeEventKey(e.key) : e.key,
        size: e.size,
        [e.spellETag ? 'eTag' : 'etag']: e.etag,
        'version-id': e.version,
      },
      reason: e.reason,
    },
  }));

const spliced = fc.tuple(builtEvent, fc.nat(), fc.nat({ max: 4 }), hostile).map(([event, at, remove, insert]) => {
  const text = JSON.stringify(event);
  const position = at % (text.length + 1);
  return text.slice(0, position) + insert + text.slice(position + remove);
});

const bodies = fc.oneof(
  { weight: 3, arbitrary: builtEvent.map((event) => JSON.stringify(event)) },
  {
    weight: 1,
    arbitrary: builtEvent.map((event) => JSON.stringify({ Type: 'Notification', MessageId: 'm', Message: JSON.stringify(event) })),
  },
  { weight: 2, arbitrary: spliced },
);

test(`EventBridge events: never a throw; an accepted one is what its forwarded record says (seed ${SEED})`, async () => {
  let accepted = 0;
  let refused = 0;
  await check(
    fc.property(bodies, (body) => {
      const parsed = parseMessageBody(body);
      if (parsed.kind !== 'records') return;
      for (const event of parsed.records) {
        const result: RecordCheck<(typeof SOURCES)[number]> =
          parsed.shape === 'eventbridge' ? checkEventBridgeEvent(event, SOURCES) : checkRecord(event, SOURCES);
        if (!result.ok) {
          refused += 1;
          assert.ok(result.reason.length > 0 && utf8Bytes(result.reason) <= MAX_LOGGED_BYTES, result.reason);
          continue;
        }
        accepted += 1;
        const target: ScanTarget = result.target;
        const source: RecordRules = result.source;
        assert.equal(target.bucket, source.bucket);
        assert.ok(target.key.startsWith(source.prefix));
        assert.ok(target.key.isWellFormed() && utf8Bytes(target.key) <= MAX_KEY_BYTES);
        assert.ok(target.versionId !== 'null', '"null" pins nothing');
        // The forwarded S3 record names the same object, and passes the S3 checks itself.
        const record = target.record as { s3: { object: { key: string } } };
        const decoded = decodeEventKey(record.s3.object.key);
        assert.ok(decoded.ok && decoded.key === target.key);
        if (parsed.shape === 'eventbridge') {
          const again: RecordCheck = checkRecord(target.record, SOURCES);
          assert.equal(again.ok ? again.target.key : again.reason, target.key);
        }
      }
    }),
  );
  assert.ok(accepted > 0 && refused > 0, `both sides reached: ${accepted} accepted, ${refused} refused`);
});

test(`processMessage on EventBridge events: bounded single lines, one per event (seed ${SEED})`, async () => {
  const deps = pipelineDeps({
    objects: {
      open: async (version) => emptyObject(version),
    },
    scanner: { scan: async () => ({ status: 'clean' }) },
    forwarder: { forward: async (message) => void JSON.parse(message.body) },
    engine: async () => null,
    now: () => new Date(0),
  });
  const settings = pipelineSettings(
    {},
    { sources: SOURCES.map(({ name, ...rules }) => testSource({ ...rules, label: name, keyLayout: rules.keyLayout ?? 'submission' })) },
  );
  await check(
    fc.asyncProperty(bodies, async (body) => {
      const chunks: string[] = [];
      const sink: DestinationStream = { write: (chunk: string) => void chunks.push(chunk) };
      const result = await processMessage(
        { messageId: 'm-1', body, receiveCount: 1 },
        { settings, deps, logger: createLogger('debug', 'bucketscan', sink) },
      );
      assert.deepEqual(result, { action: 'delete' });
      assert.ok(chunks.length >= 1);
      for (const chunk of chunks) {
        assert.ok(chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1, 'one write is one line');
        assert.doesNotMatch(chunk, /[\u0085\u2028\u2029]/);
        assert.ok(Buffer.byteLength(chunk) < 32 * 1024, `${Buffer.byteLength(chunk)} bytes`);
        JSON.parse(chunk);
      }
    }),
  );
});
