// Settings for one-off commands: each section is read only when asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandSettings } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/variables.ts';

const failsOn = (variable: string) => (error: unknown) => error instanceof ConfigError && error.variable === variable;

test('clamd and MAX_FILE_SIZE need no AWS settings (a scan of local files)', () => {
  const settings = commandSettings({ CLAMD_HOST: 'clamd.local', CLAMD_PORT: '3311', MAX_FILE_SIZE: '2' });
  assert.deepEqual(settings.clamd().address, { kind: 'tcp', host: 'clamd.local', port: 3311 });
  assert.equal(settings.clamd().maxFileSizeBytes, 2 * 1024 * 1024);
  // Even half-set AWS credentials do not matter until S3 is asked for.
  const halfSet = commandSettings({ AWS_ACCESS_KEY_ID: 'only-the-id' });
  assert.equal(halfSet.clamd().maxFileSizeBytes, 100 * 1024 * 1024);
  assert.throws(
    () => halfSet.aws('s3'),
    (error: unknown) => error instanceof ConfigError,
  );
});

test('S3 settings are checked when asked for', () => {
  const none = commandSettings({});
  assert.throws(() => none.aws('s3'), failsOn('AWS_REGION'));
  const set = commandSettings({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' });
  assert.deepEqual(set.aws('s3'), { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', credentials: undefined });
});

test('a bad clamd setting is still a configuration error naming it', () => {
  assert.throws(() => commandSettings({ CLAMD_SOCKET: '/run/clamd.sock', CLAMD_HOST: 'x' }).clamd(), failsOn('CLAMD_SOCKET'));
  assert.throws(() => commandSettings({ CLAMD_PORT: 'x' }).clamd(), failsOn('CLAMD_PORT'));
});

test('each section reads only its own variables, and each once', () => {
  // A bad variable of a section the command does not use is not its business.
  const settings = commandSettings({ CONCURRENCY: 'many', UNPROCESSED_BUCKET_NAME: 'unprocessed', VIRUS_SCANNING_QUEUE_NAME: 'in' });
  assert.deepEqual(settings.unprocessed(), { bucket: 'unprocessed', prefix: '' });
  assert.deepEqual(settings.inboundQueue(), { name: 'in' });
  assert.throws(() => settings.quarantine(), failsOn('QUARANTINE_BUCKET_NAME'));
  // The same answer, error included, however often asked.
  assert.equal(settings.unprocessed(), settings.unprocessed());
  assert.throws(() => settings.quarantine(), failsOn('QUARANTINE_BUCKET_NAME'));
});
