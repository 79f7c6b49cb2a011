// Settings for one-off commands: each is required only when asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadCommandSettings } from '../../src/config/config.ts';

test('clamd and MAX_FILE_SIZE need no AWS settings (a scan of local files)', () => {
  const settings = loadCommandSettings({ CLAMD_HOST: 'clamd.local', CLAMD_PORT: '3311', MAX_FILE_SIZE: '2' });
  assert.deepEqual(settings.clamd().address, { kind: 'tcp', host: 'clamd.local', port: 3311 });
  assert.equal(settings.maxFileSizeBytes(), 2 * 1024 * 1024);
  // Even half-set AWS credentials do not matter until S3 is asked for.
  const halfSet = loadCommandSettings({ AWS_ACCESS_KEY_ID: 'only-the-id' });
  assert.equal(halfSet.maxFileSizeBytes(), 100 * 1024 * 1024);
  assert.throws(
    () => halfSet.aws('s3'),
    (error: unknown) => error instanceof ConfigError,
  );
});

test('S3 settings are checked when asked for', () => {
  const none = loadCommandSettings({});
  assert.throws(
    () => none.aws('s3'),
    (error: unknown) => error instanceof ConfigError && error.variable === 'AWS_REGION',
  );
  const set = loadCommandSettings({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' });
  assert.deepEqual(set.aws('s3'), { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', credentials: undefined });
});

test('a bad clamd setting is still a configuration error naming it', () => {
  const settings = loadCommandSettings({ CLAMD_SOCKET: '/run/clamd.sock', CLAMD_HOST: 'x' });
  assert.throws(
    () => settings.clamd(),
    (error: unknown) => error instanceof ConfigError && error.variable === 'CLAMD_SOCKET',
  );
  assert.throws(
    () => loadCommandSettings({ CLAMD_PORT: 'x' }),
    (error: unknown) => error instanceof ConfigError && error.variable === 'CLAMD_PORT',
  );
});
