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

test('RESCAN_QUEUE: a name or a URL, unset is undefined, anything else is refused naming it', () => {
  assert.deepEqual(commandSettings({ RESCAN_QUEUE: 'bucketscan-rescan' }).rescanQueue(), { name: 'bucketscan-rescan' });
  const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/bucketscan-rescan';
  assert.deepEqual(commandSettings({ RESCAN_QUEUE: url }).rescanQueue(), { url });
  assert.equal(commandSettings({}).rescanQueue(), undefined);
  assert.equal(commandSettings({ RESCAN_QUEUE: ' ' }).rescanQueue(), undefined);
  assert.throws(() => commandSettings({ RESCAN_QUEUE: 'two words' }).rescanQueue(), failsOn('RESCAN_QUEUE'));
});

test('SOURCES_FILE: unset is undefined; a file that cannot be used is a ConfigError naming it, in one line', async () => {
  assert.equal(await commandSettings({}).sources(), undefined);
  await assert.rejects(commandSettings({ SOURCES_FILE: '/nonexistent/sources.json' }).sources(), (error: unknown) => {
    return failsOn('SOURCES_FILE')(error) && /cannot read "\/nonexistent\/sources\.json" \(ENOENT\)/.test((error as Error).message);
  });
});

test('SOURCES: the same document inline; bad JSON or a bad entry names SOURCES; both set is refused', async () => {
  const document = { sources: [{ bucket: 'uploads', quarantineBucket: 'quarantine', quarantinePrefix: 'uploads/' }] };
  const inline = await commandSettings({ SOURCES: JSON.stringify(document) }).sources();
  assert.equal(inline?.origin, 'SOURCES');
  assert.deepEqual(
    inline?.sources.map((s) => [s.bucket, s.quarantine.prefix]),
    [['uploads', 'uploads/']],
  );
  await assert.rejects(
    commandSettings({ SOURCES: '{' }).sources(),
    (error: unknown) => failsOn('SOURCES')(error) && /not valid JSON/.test(String(error)),
  );
  await assert.rejects(commandSettings({ SOURCES: '{"sources":[{"bucket":"uploads"}]}' }).sources(), (error: unknown) => {
    return failsOn('SOURCES')(error) && /sources\[0\] \(bucket "uploads"\)\.quarantineBucket: is required/.test(String(error));
  });
  await assert.rejects(commandSettings({ SOURCES: '{}', SOURCES_FILE: '/x.json' }).sources(), failsOn('SOURCES'));
});
