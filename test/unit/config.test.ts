import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, VARIABLES } from '../../src/config/config.ts';
import { ConfigError, MEGABYTE } from '../../src/config/variables.ts';
import { environmentWithDotenv } from '../../src/config/env-file.ts';

const base = {
  UNPROCESSED_BUCKET_NAME: 'unprocessed',
  QUARANTINE_BUCKET_NAME: 'quarantine',
  VIRUS_SCANNING_QUEUE_NAME: 'virus-scanning',
  VALIDATION_QUEUE_NAME: 'validation',
  VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:virus-notification',
  AWS_REGION: 'eu-west-1',
};

function failsOn(env: Record<string, string | undefined>, variable: string, problem?: RegExp) {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.variable, variable);
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      assert.ok(!error.message.includes('\n'), 'one line');
      if (problem) assert.match(error.message, problem);
      return true;
    },
  );
}

test('defaults', () => {
  const config = loadConfig(base);
  assert.equal(config.source.prefix, '');
  assert.equal(config.clamd.maxFileSizeBytes, 100 * MEGABYTE);
  assert.equal(config.tuning.concurrency, 8);
  assert.equal(config.tuning.receiveAhead, 8, 'RECEIVE_AHEAD follows CONCURRENCY unless set');
  assert.equal(loadConfig({ ...base, CONCURRENCY: '3' }).tuning.receiveAhead, 3);
  assert.equal(loadConfig({ ...base, RECEIVE_AHEAD: '0' }).tuning.receiveAhead, 0);
  assert.equal(config.tuning.visibilityTimeoutSeconds, 120);
  assert.deepEqual(config.clamd.address, { kind: 'tcp', host: '127.0.0.1', port: 3310 });
  assert.equal(config.clamd.explicit, false);
  assert.deepEqual(config.queues.inbound, { name: 'virus-scanning' });
  assert.equal(config.aws.s3.endpoint, undefined);
  assert.equal(config.aws.s3.credentials, undefined);
  assert.equal(config.aws.sqs.region, 'eu-west-1');
});

test('each required variable is named when missing', () => {
  for (const name of ['UNPROCESSED_BUCKET_NAME', 'QUARANTINE_BUCKET_NAME', 'VIRUS_NOTIFICATION_TOPIC_ARN']) {
    failsOn({ ...base, [name]: undefined }, name, /required/);
  }
  failsOn({ ...base, VIRUS_SCANNING_QUEUE_NAME: undefined }, 'VIRUS_SCANNING_QUEUE_NAME', /VIRUS_SCANNING_QUEUE_URL/);
  failsOn({ ...base, VALIDATION_QUEUE_NAME: '' }, 'VALIDATION_QUEUE_NAME');
  failsOn({ ...base, AWS_REGION: undefined, VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t' }, 'AWS_REGION');
});

test('bad values are named with what is wrong', () => {
  failsOn({ ...base, MAX_FILE_SIZE: 'big' }, 'MAX_FILE_SIZE', /megabytes/);
  failsOn({ ...base, MAX_FILE_SIZE: '0' }, 'MAX_FILE_SIZE');
  failsOn({ ...base, MAX_FILE_SIZE: '2048' }, 'MAX_FILE_SIZE', /2047/);
  failsOn({ ...base, CONCURRENCY: '0' }, 'CONCURRENCY', /between 1 and 256/);
  failsOn({ ...base, CONCURRENCY: '2.5' }, 'CONCURRENCY', /whole number/);
  failsOn({ ...base, VISIBILITY_TIMEOUT: '5' }, 'VISIBILITY_TIMEOUT');
  failsOn({ ...base, CLAMD_PORT: '70000' }, 'CLAMD_PORT');
  failsOn({ ...base, UNPROCESSED_BUCKET_NAME: 'Bad_Bucket' }, 'UNPROCESSED_BUCKET_NAME', /bucket name/);
  failsOn({ ...base, VIRUS_NOTIFICATION_TOPIC_ARN: 'my-topic' }, 'VIRUS_NOTIFICATION_TOPIC_ARN', /ARN/);
  failsOn({ ...base, AWS_ENDPOINT_URL: 'localhost:4566' }, 'AWS_ENDPOINT_URL', /URL/);
  failsOn({ ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
  failsOn({ ...base, CLAMD_SOCKET: '/run/clamd.ctl', CLAMD_HOST: 'clamd' }, 'CLAMD_SOCKET');
  failsOn({ ...base, AWS_S3_ACCESS_KEY_ID: 'AKIA' }, 'AWS_S3_SECRET_ACCESS_KEY');
  failsOn({ ...base, AWS_SECRET_ACCESS_KEY: 'x' }, 'AWS_ACCESS_KEY_ID');
  failsOn({ ...base, QUARANTINE_BUCKET_NAME: 'unprocessed' }, 'QUARANTINE_BUCKET_NAME');
});

test('the Python worker per-service variables are honoured', () => {
  const config = loadConfig({
    ...base,
    AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
    AWS_S3_ENDPOINT_URL: 'http://127.0.0.1:9000',
    AWS_S3_REGION: 'us-east-2',
    AWS_S3_ACCESS_KEY_ID: 'minio',
    AWS_S3_SECRET_ACCESS_KEY: 'minio-secret',
    AWS_ACCESS_KEY_ID: 'shared',
    AWS_SECRET_ACCESS_KEY: 'shared-secret',
  });
  assert.equal(config.aws.s3.endpoint, 'http://127.0.0.1:9000');
  assert.equal(config.aws.s3.region, 'us-east-2');
  assert.deepEqual(config.aws.s3.credentials, { accessKeyId: 'minio', secretAccessKey: 'minio-secret' });
  assert.equal(config.aws.sqs.endpoint, 'http://127.0.0.1:4566');
  assert.deepEqual(config.aws.sqs.credentials, { accessKeyId: 'shared', secretAccessKey: 'shared-secret' });
});

test('SNS uses the topic ARN region unless told otherwise', () => {
  const config = loadConfig({ ...base, AWS_REGION: 'us-east-1' });
  assert.equal(config.aws.sns.region, 'eu-west-1');
  assert.equal(loadConfig({ ...base, AWS_SNS_REGION: 'ap-south-1' }).aws.sns.region, 'ap-south-1');
});

test('queue URLs win over names; prefixes get their slash; clamd socket and units', () => {
  const config = loadConfig({
    ...base,
    VIRUS_SCANNING_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/in',
    UNPROCESSED_PREFIX: 'incoming',
    QUARANTINE_PREFIX: '/q/',
    CLAMD_SOCKET: '/run/clamav/clamd.ctl',
    MAX_FILE_SIZE: '1.5',
  });
  assert.deepEqual(config.queues.inbound, { url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/in' });
  assert.equal(config.source.prefix, 'incoming/');
  assert.equal(config.source.quarantine.prefix, 'q/');
  assert.deepEqual(config.clamd.address, { kind: 'socket', path: '/run/clamav/clamd.ctl' });
  assert.equal(config.clamd.explicit, true);
  assert.equal(config.clamd.maxFileSizeBytes, Math.floor(1.5 * MEGABYTE));
});

test('real environment variables override the .env file; a missing file is fine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-env-'));
  const file = join(dir, '.env');
  writeFileSync(file, 'CONCURRENCY=2\nLOG_LEVEL=debug\n# comment\nQUOTED="a b"\n');
  const env = environmentWithDotenv(file, { CONCURRENCY: '8' });
  assert.equal(env['CONCURRENCY'], '8');
  assert.equal(env['LOG_LEVEL'], 'debug');
  assert.equal(env['QUOTED'], 'a b');
  assert.deepEqual(environmentWithDotenv(join(dir, 'missing'), { A: '1' }), { A: '1' });
});

test('UNSCANNABLE_ACTION: quarantine by default, or forward; anything else is named', () => {
  const action = (env: Record<string, string>) => loadConfig({ ...base, ...env }).tuning.unscannableAction;
  assert.equal(action({}), 'quarantine');
  assert.equal(action({ UNSCANNABLE_ACTION: '' }), 'quarantine');
  assert.equal(action({ UNSCANNABLE_ACTION: 'forward' }), 'forward');
  assert.equal(action({ UNSCANNABLE_ACTION: ' Quarantine ' }), 'quarantine');
  failsOn({ ...base, UNSCANNABLE_ACTION: 'clean' }, 'UNSCANNABLE_ACTION', /must be quarantine or forward, got "clean"/);
  failsOn({ ...base, UNSCANNABLE_ACTION: 'ignore' }, 'UNSCANNABLE_ACTION');
});

test('docs/configuration.md documents every variable the worker reads', () => {
  const section = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  // Per-service names are written as AWS_{S3,SQS,SNS}_… in the table.
  const documented = section.replace(/AWS_\{S3,SQS,SNS\}_([A-Z_]+)(?:`, `…(_[A-Z_]+))?/g, (_all, first: string, second?: string) =>
    ['S3', 'SQS', 'SNS'].flatMap((service) => [`AWS_${service}_${first}`, ...(second ? [`AWS_${service}${second}`] : [])]).join(' '),
  );
  const missing = VARIABLES.filter((name) => !new RegExp(`\\b${name}\\b`).test(documented));
  assert.deepEqual(missing, []);
});
