// The deployment's worker environment (src/config/worker-environment.ts) against
// the worker's own loader: every variable it writes is one the worker reads, and
// what it leaves at the default is the worker's default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, VARIABLES } from '../../src/config/config.ts';
import { MEGABYTE } from '../../src/config/variables.ts';
import { DEFAULT_STATUS_TAG, DEFAULTS } from '../../src/config/defaults.ts';
import {
  OPTIONAL_WORKER_ENVIRONMENT_VARIABLES,
  WORKER_ENVIRONMENT_VARIABLES,
  workerEnvironment,
} from '../../src/config/worker-environment.ts';

const required = {
  region: 'eu-west-1',
  unprocessedBucket: 'uploads',
  quarantineBucket: 'quarantine',
  inboundQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/inbound',
  validationQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/validation',
  topicArn: 'arn:aws:sns:eu-west-1:123456789012:virus-notifications',
};

test('every variable the builder writes is one the worker reads', () => {
  const env = workerEnvironment(required);
  assert.deepEqual(Object.keys(env).sort(), [...WORKER_ENVIRONMENT_VARIABLES].sort());
  for (const name of Object.keys(env)) {
    assert.ok(name === 'BUCKETSCAN_ENV_FILE' || VARIABLES.includes(name), `${name} is read by src/config/config.ts`);
  }
});

test('left unset, every setting loads as the worker would default it without the variable', () => {
  const built = loadConfig(workerEnvironment(required));
  const bare = loadConfig({
    AWS_REGION: required.region,
    UNPROCESSED_BUCKET_NAME: required.unprocessedBucket,
    QUARANTINE_BUCKET_NAME: required.quarantineBucket,
    VIRUS_SCANNING_QUEUE_URL: required.inboundQueueUrl,
    VALIDATION_QUEUE_URL: required.validationQueueUrl,
    VIRUS_NOTIFICATION_TOPIC_ARN: required.topicArn,
  });
  // The one difference: naming clamd's address marks it as given (the local stack then starts none).
  assert.deepEqual({ ...built, clamd: { ...built.clamd, explicit: false } }, bare);
  assert.equal(built.tuning.concurrency, DEFAULTS.concurrency);
  assert.equal(built.source.statusTag, DEFAULT_STATUS_TAG);
  assert.equal(built.clamd.maxFileSizeBytes, DEFAULTS.maxFileSizeMb * MEGABYTE);
});

test('settings given reach the worker as given', () => {
  const config = loadConfig(
    workerEnvironment({
      ...required,
      unprocessedPrefix: 'incoming/',
      concurrency: 4,
      receiveAhead: 2,
      maxFileSizeMb: 250,
      shutdownTimeoutSeconds: 105,
      visibilityTimeoutSeconds: 300,
      statusTag: '',
      metrics: 'emf',
      metricsNamespace: 'bucketscan/Stack',
      healthPort: 8080,
      unscannableAction: 'forward',
      maxDefinitionsAgeHours: 24,
      staleDefinitions: 'pause',
    }),
  );
  assert.equal(config.source.prefix, 'incoming/');
  assert.equal(config.tuning.concurrency, 4);
  assert.equal(config.tuning.receiveAhead, 2);
  assert.equal(config.clamd.maxFileSizeBytes, 250 * MEGABYTE);
  assert.equal(config.tuning.shutdownTimeoutSeconds, 105);
  assert.equal(config.tuning.visibilityTimeoutSeconds, 300);
  assert.equal(config.source.statusTag, undefined, "'' turns tagging off");
  assert.equal(config.metrics.mode, 'emf');
  assert.equal(config.metrics.namespace, 'bucketscan/Stack');
  assert.equal(config.metrics.healthPort, 8080);
  assert.equal(config.tuning.unscannableAction, 'forward');
  assert.equal(config.clamd.maxDefinitionsAgeHours, 24);
  assert.equal(config.clamd.staleDefinitions, 'pause');
});

test('numbers go through the formatter (deploy/ keeps template tokens that way)', () => {
  const env = workerEnvironment({ ...required, concurrency: 4 }, (n) => `<${n}>`);
  assert.equal(env.CONCURRENCY, '<4>');
  assert.equal(env.RECEIVE_AHEAD, '<4>', 'RECEIVE_AHEAD follows CONCURRENCY, as in the worker');
});

test('the settings of several sources, the backfill lane and result events are written only when given', () => {
  const sources = JSON.stringify({ sources: [{ bucket: 'uploads', quarantineBucket: 'quarantine', quarantinePrefix: 'uploads/' }] });
  const env = workerEnvironment({
    ...required,
    sources,
    rescanQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/rescan',
    resultEventBus: 'scan-results',
  });
  assert.equal(env.SOURCES, sources);
  assert.equal(env.RESCAN_QUEUE, 'https://sqs.eu-west-1.amazonaws.com/123456789012/rescan');
  assert.equal(env.RESULT_EVENT_BUS, 'scan-results');
  for (const name of OPTIONAL_WORKER_ENVIRONMENT_VARIABLES) assert.equal(name in workerEnvironment(required), false, name);
});
