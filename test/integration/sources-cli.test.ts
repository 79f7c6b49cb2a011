// `bucketscan worker` with SOURCES_FILE, as a process: a bad sources file, a
// single-bucket variable beside it, and a validation queue that does not exist
// each stop it at start with exit code 2 and one line naming the entry and the
// field, before any message is taken.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { RESOURCES } from '../support/stack.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bucketscan-sources-cli-'));
let emulator: Emulator;

before(async () => {
  emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
});
after(async () => {
  await emulator?.stop();
});

/** Runs the worker to its exit (asynchronously: the emulator answers from this process) and returns its one stderr line. */
async function worker(sources: unknown, env: Record<string, string> = {}): Promise<string> {
  const path = join(dir, `sources-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof sources === 'string' ? sources : JSON.stringify(sources));
  const child = spawn(process.execPath, [join(root, 'src', 'cli.ts'), 'worker'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      BUCKETSCAN_ENV_FILE: 'none',
      SOURCES_FILE: path,
      VIRUS_SCANNING_QUEUE_NAME: RESOURCES.inboundQueueName,
      VIRUS_NOTIFICATION_TOPIC_ARN: emulator.topicArn,
      AWS_REGION: RESOURCES.region,
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // Never reached: the settings stop it first.
      CLAMD_HOST: '127.0.0.1',
      CLAMD_PORT: '9',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const result = { status, stderr };
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
  return lines[0]!;
}

const entry = { bucket: RESOURCES.unprocessedBucket, quarantineBucket: RESOURCES.quarantineBucket, quarantinePrefix: 'q/' };

test('a bad sources file: one line naming the entry and the field, exit 2', async () => {
  assert.match(
    await worker({ sources: [entry, { bucket: 'imports', quarantinePrefix: '' }] }),
    /^bucketscan: configuration error: SOURCES_FILE: .*\.json: sources\[1\] \(bucket "imports"\)\.quarantineBucket: is required$/,
  );
  assert.match(await worker('{"sources": ['), /^bucketscan: configuration error: SOURCES_FILE: ".*\.json" is not valid JSON: /);
  assert.match(
    await worker({ sources: [{ ...entry, quarantineBucket: RESOURCES.unprocessedBucket }] }),
    /sources\[0\] \(bucket "unprocessed"\)\.quarantinePrefix: the quarantine area s3:\/\/unprocessed\/q\/ overlaps the area it scans/,
  );
});

test('a single-bucket variable beside the sources file: exit 2 naming it', async () => {
  assert.match(
    await worker({ sources: [entry] }, { UNPROCESSED_BUCKET_NAME: 'unprocessed' }),
    /^bucketscan: configuration error: SOURCES_FILE: cannot be combined with UNPROCESSED_BUCKET_NAME/,
  );
});

test('a validation queue that does not exist: exit 2 naming the entry, looked up before anything is received', async () => {
  assert.match(
    await worker({ sources: [{ ...entry, validationQueue: 'no-such-queue' }] }),
    /^bucketscan: configuration error: SOURCES_FILE: sources\[0\] \(bucket "unprocessed"\)\.validationQueue: queue "no-such-queue" does not exist$/,
  );
});
