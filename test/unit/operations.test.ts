// Pure parts of the operating features: the status tag merge, the error
// classification, the outcome events and the two metrics outputs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { withStatus, MAX_TAGS } from '../../src/pipeline/tags.ts';
import { isPermanentTaggingError, isObjectGone, isQueueMissing } from '../../src/aws/errors.ts';
import { errorMessage } from '../../src/shared/errors.ts';
import { processMessage } from '../../src/pipeline/process-message.ts';
import { messageContext, pipelineDeps } from '../support/pipeline.ts';
import type { OutcomeEvent } from '../../src/pipeline/outcome.ts';
import { createEmfMetrics, createPrometheusMetrics } from '../../src/metrics/metrics.ts';
import { loadConfig } from '../../src/config/config.ts';

const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('the status tag merge', () => {
  test('adds the status to the other tags, replacing an earlier status', () => {
    const merged = withStatus(
      [
        { Key: 'team', Value: 'a' },
        { Key: 's', Value: 'CLEAN' },
      ],
      's',
      'INFECTED',
    );
    assert.deepEqual(merged, {
      ok: true,
      tags: [
        { Key: 'team', Value: 'a' },
        { Key: 's', Value: 'INFECTED' },
      ],
    });
  });
  test("refuses when the object already has S3's ten tags of its own", () => {
    const ten = Array.from({ length: MAX_TAGS }, (_, i) => ({ Key: `t${i}`, Value: 'v' }));
    const merged = withStatus(ten, 's', 'CLEAN');
    assert.equal(merged.ok, false);
    // Nine others plus an old status: the status replaces itself, so it fits.
    assert.equal(withStatus([...ten.slice(0, 9), { Key: 's', Value: 'INFECTED' }], 's', 'CLEAN').ok, true);
  });
});

describe('error classification', () => {
  test('tagging failures that repeat on every retry are final, the rest are retried', () => {
    assert.equal(isPermanentTaggingError(awsError('AccessDenied', 403)), true);
    assert.equal(isPermanentTaggingError(awsError('BadRequest', 400)), true);
    assert.equal(isPermanentTaggingError(awsError('InvalidTag', 400)), true);
    assert.equal(isPermanentTaggingError(awsError('MethodNotAllowed', 405)), true);
    assert.equal(isPermanentTaggingError(awsError('NotImplemented', 501)), true);
    assert.equal(isPermanentTaggingError(awsError('SlowDown', 503)), false);
    assert.equal(isPermanentTaggingError(awsError('InternalError', 500)), false);
    assert.equal(isPermanentTaggingError(new Error('socket hang up')), false);
  });
  test('named predicates', () => {
    assert.equal(isObjectGone(awsError('NoSuchKey', 404)), true);
    assert.equal(isObjectGone(awsError('AccessDenied', 403)), false);
    assert.equal(isQueueMissing(awsError('AWS.SimpleQueueService.NonExistentQueue', 400)), true);
  });
  test('errorMessage copes with anything thrown', () => {
    assert.equal(errorMessage(new Error('boom')), 'boom');
    assert.equal(errorMessage('text'), 'text');
    assert.equal(errorMessage({ code: 1 }), '{"code":1}');
    assert.equal(errorMessage(undefined), 'undefined');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.equal(errorMessage(cyclic), '[object Object]');
  });
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', 'bucketscan', sink) };
}

const record = (key: string) => ({
  eventVersion: '2.1',
  eventSource: 'aws:s3',
  eventName: 'ObjectCreated:Put',
  eventTime: '2026-11-30T00:00:00.000Z',
  s3: { bucket: { name: 'unprocessed' }, object: { key, size: 5, eTag: 'abc' } },
});

describe('outcome events', () => {
  // S3 failing: every valid record ends as a retry; nothing else is reached.
  const failingS3 = pipelineDeps({
    objects: { open: async () => Promise.reject(awsError('InternalError', 500)) },
  });
  const rules = { bucket: 'unprocessed', prefix: '' };
  const body = JSON.stringify({ Records: [record('not-a-guid'), record('0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00/a.txt')] });

  test('each record is one typed event, and the same event is the log line', async () => {
    const { lines, logger } = capture();
    const events: OutcomeEvent[] = [];
    const result = await processMessage(
      { messageId: 'm', body, receiveCount: 2, maxReceiveCount: 5, origin: 'rescan' },
      messageContext(logger, rules, failingS3, { onOutcome: (e) => events.push(e) }),
    );
    assert.equal(result.action, 'retry');
    assert.deepEqual(
      events.map((e) => e.outcome),
      ['invalid', 'retry'],
    );
    assert.deepEqual(
      lines.map((l) => l['outcome']),
      ['invalid', 'retry'],
    );
    assert.equal(events[1]!.outcome === 'retry' && events[1]!.lastReceive, false);
    assert.ok(events.every((e) => e.origin === 'rescan'));
    assert.equal(lines[1]!['origin'], 'rescan');
    assert.equal(lines[1]!['deadLetter'], undefined);
  });

  test('a failure on the last receive before the dead-letter queue says so, with the message id', async () => {
    const { lines, logger } = capture();
    await processMessage({ messageId: 'm-last', body, receiveCount: 5, maxReceiveCount: 5 }, messageContext(logger, rules, failingS3));
    const line = lines.find((l) => l['outcome'] === 'retry');
    assert.equal(line?.['messageId'], 'm-last');
    assert.equal(line?.['deadLetter'], true);
    assert.match(String(line?.['msg']), /about to be dead-lettered/);
    assert.equal(line?.['error'], 'InternalError');
  });
});

const clean: OutcomeEvent = {
  messageId: 'm',
  receiveCount: 1,
  origin: 'event',
  record: 0,
  bucket: 'b',
  key: 'k',
  versionId: undefined,
  envelope: 'direct',
  outcome: 'clean',
  action: 'forwarded',
  verdict: { status: 'clean' },
  durationMs: 12,
  verdictMs: 8,
  size: 2048,
  scanMs: 5,
};

describe('metrics', () => {
  const gauges = { inFlight: () => 3, clamdUp: () => true, definitionsAgeSeconds: () => 7200 };

  test('Prometheus text has every metric the README lists', async () => {
    const metrics = await createPrometheusMetrics(gauges);
    metrics.observe(clean);
    const {
      size: _size,
      scanMs: _scanMs,
      verdictMs: _verdictMs,
      action: _action,
      verdict: _verdict,
      ...where
    } = clean as Extract<OutcomeEvent, { action: 'forwarded' }>;
    metrics.observe({ ...where, outcome: 'retry', error: new Error('x'), lastReceive: false });
    metrics.awsError('S3', 'GetObject');
    const { body, contentType } = await metrics.render!();
    assert.match(contentType, /^text\/plain/);
    assert.match(body, /bucketscan_records_total\{outcome="clean",origin="event"\} 1/);
    assert.match(body, /bucketscan_records_total\{outcome="retry",origin="event"\} 1/);
    assert.match(body, /bucketscan_records_total\{outcome="test-event",origin="event"\} 0/);
    assert.match(body, /bucketscan_scan_duration_seconds_count 1/);
    assert.match(body, /bucketscan_object_size_bytes_sum 2048/);
    assert.match(body, /bucketscan_scanned_bytes_total 2048/);
    assert.match(body, /bucketscan_in_flight_messages 3/);
    assert.match(body, /bucketscan_clamd_up 1/);
    assert.match(body, /bucketscan_definitions_age_seconds 7200/);
    assert.match(body, /bucketscan_aws_errors_total\{service="S3",operation="GetObject"\} 1/);
    assert.match(body, /process_cpu_seconds_total/);
  });

  test('EMF lines carry the same names, as deltas, under the namespace', () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({
      namespace: 'ns',
      intervalMs: 3_600_000,
      gauges,
      write: (line) => lines.push(line),
      now: () => 1000,
    });
    metrics.observe(clean);
    metrics.observe(clean);
    metrics.awsError('SQS', 'ReceiveMessage');
    metrics.stop();
    const documents = lines.map((line) => JSON.parse(line) as Record<string, any>);
    assert.ok(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n')));
    const records = documents.find((d) => d['bucketscan_records_total'] !== undefined)!;
    assert.equal(records['bucketscan_records_total'], 2);
    assert.equal(records['outcome'], 'clean');
    assert.deepEqual(records['_aws'].CloudWatchMetrics[0].Dimensions, [['outcome'], ['outcome', 'origin']]);
    assert.equal(records['_aws'].CloudWatchMetrics[0].Namespace, 'ns');
    assert.equal(records['_aws'].Timestamp, 1000);
    const gaugesDoc = documents.find((d) => d['bucketscan_in_flight_messages'] !== undefined)!;
    assert.deepEqual(gaugesDoc['bucketscan_scan_duration_seconds'], [0.005, 0.005]);
    assert.equal(gaugesDoc['bucketscan_scanned_bytes_total'], 4096);
    assert.equal(gaugesDoc['bucketscan_definitions_age_seconds'], 7200);
    const errors = documents.find((d) => d['bucketscan_aws_errors_total'] !== undefined)!;
    assert.equal(errors['operation'], 'ReceiveMessage');
    // The deployment's AwsErrors alarm watches the total: a dimension set with no dimension.
    assert.deepEqual(errors['_aws'].CloudWatchMetrics[0].Dimensions, [['service', 'operation'], []]);
  });
});

describe('settings', () => {
  const base = {
    UNPROCESSED_BUCKET_NAME: 'unprocessed',
    QUARANTINE_BUCKET_NAME: 'quarantine',
    VIRUS_SCANNING_QUEUE_NAME: 'in',
    VALIDATION_QUEUE_NAME: 'out',
    VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:t',
    AWS_REGION: 'us-east-1',
  };
  test('SCAN_STATUS_TAG: a default when unset, off when empty, checked when set', () => {
    assert.equal(loadConfig(base).source.statusTag, 'bucketscan-status');
    assert.equal(loadConfig({ ...base, SCAN_STATUS_TAG: '' }).source.statusTag, undefined);
    assert.equal(loadConfig({ ...base, SCAN_STATUS_TAG: 'scan:status' }).source.statusTag, 'scan:status');
    assert.throws(() => loadConfig({ ...base, SCAN_STATUS_TAG: 'x'.repeat(129) }), /SCAN_STATUS_TAG: must be an S3 tag key/);
  });
  test('freshness and log format', () => {
    const config = loadConfig(base);
    assert.equal(config.clamd.maxDefinitionsAgeHours, 48);
    assert.equal(config.clamd.staleDefinitions, 'warn');
    assert.equal(loadConfig({ ...base, STALE_DEFINITIONS: 'pause', MAX_DEFINITIONS_AGE: '1.5' }).clamd.maxDefinitionsAgeHours, 1.5);
    assert.throws(() => loadConfig({ ...base, MAX_DEFINITIONS_AGE: '0' }), /MAX_DEFINITIONS_AGE: must be a number of hours above 0/);
    assert.throws(() => loadConfig({ ...base, STALE_DEFINITIONS: 'stop' }), /STALE_DEFINITIONS: must be warn or pause/);
    assert.throws(() => loadConfig({ ...base, LOG_FORMAT: 'xml' }), /LOG_FORMAT: must be one of auto, json, pretty/);
  });
  test('METRICS', () => {
    assert.equal(loadConfig(base).metrics.mode, 'prometheus');
    assert.equal(loadConfig({ ...base, METRICS: 'EMF' }).metrics.mode, 'emf');
    assert.throws(() => loadConfig({ ...base, METRICS: 'statsd' }), /METRICS: must be prometheus, emf or off/);
  });
});
