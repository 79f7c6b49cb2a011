// `make run SOURCES=docs/examples/two-buckets.json`: the local stack with two
// buckets from a sources file. Both upload commands the banner prints, run as
// printed, reach the one inbound queue; each file is judged by its own source and
// its event lands on its own source's validation queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../../src/local/free-port.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the local stack scans both buckets of the example sources file', { timeout: 180_000 }, async () => {
  const port = await freePort();
  // The committed .env, as `make run` reads it (its single-bucket variables set aside), the port moved off 4566.
  const child = spawn(process.execPath, [join(root, 'src', 'cli.ts'), 'local', '--sources', 'docs/examples/two-buckets.json'], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  try {
    await waitFor('the banner', () => (stderr.includes('Ctrl-C stops') ? true : undefined), 120_000);
    assert.match(stderr, /unprocessed bucket 1: s3:\/\/unprocessed\/<submission_guid>\/<filename>/);
    assert.match(stderr, /unprocessed bucket 2: s3:\/\/partner-imports\/incoming\/<any key>/);
    assert.match(stderr, /quarantine: {8}s3:\/\/quarantine\/partner-imports\//);
    const queueUrls = [...stderr.matchAll(/validation queue: {2}(http\S+)/g)].map((match) => match[1]!);
    assert.equal(queueUrls.length, 2);
    assert.match(queueUrls[1]!, /\/validation-imports$/);

    // Both upload lines exactly as printed, from a scratch directory (the first writes hello.txt).
    const uploads = stderr
      .split('\n')
      .filter((line) => line.includes(' s3 cp hello.txt '))
      .map((line) => line.trim());
    assert.equal(uploads.length, 2);
    const scratch = mkdtempSync(join(tmpdir(), 'bucketscan-two-buckets-'));
    for (const line of uploads) execFileSync('bash', ['-c', line], { cwd: scratch, stdio: 'pipe' });
    const [first, second] = uploads.map((line) => /s3:\/\/([^/\s]+)\/(\S+)/.exec(line)!.slice(1) as [string, string]);
    for (const [bucket, key] of [first!, second!]) {
      await waitFor(`a clean verdict for s3://${bucket}/${key}`, () =>
        lines().find((line) => line['bucket'] === bucket && line['key'] === key && line['outcome'] === 'clean'),
      );
    }
    // Each event on its own source's validation queue.
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
    const received = (url: string) =>
      JSON.parse(
        execFileSync(
          'aws',
          ['--endpoint-url', `http://127.0.0.1:${port}`, 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '10'],
          {
            env,
            encoding: 'utf8',
          },
        ) || '{}',
      ) as { Messages?: Array<{ Body: string }> };
    const bucketsOn = (url: string) => (received(url).Messages ?? []).map((m) => JSON.parse(m.Body).Records[0].s3.bucket.name as string);
    assert.deepEqual(bucketsOn(queueUrls[0]!), ['unprocessed']);
    assert.deepEqual(bucketsOn(queueUrls[1]!), ['partner-imports']);

    child.kill('SIGINT');
    assert.equal(await exit, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
