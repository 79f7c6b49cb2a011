// `bucketscan worker` as a separate process, the way it is deployed: configuration
// errors, readiness, the visibility heartbeat and graceful shutdown.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startFakeClamd } from '../support/fake-clamd.ts';
import { RESOURCES } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../../src/local/free-port.ts';
import { productionCommand } from '../../bench/production.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src', 'cli.ts');

function runOnce(env: Record<string, string>) {
  return spawnSync(process.execPath, [cli, 'worker'], {
    env: { PATH: process.env['PATH'] ?? '', BUCKETSCAN_ENV_FILE: 'none', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const validEnv = {
  UNPROCESSED_BUCKET_NAME: 'unprocessed',
  QUARANTINE_BUCKET_NAME: 'quarantine',
  VIRUS_SCANNING_QUEUE_NAME: 'virus-scanning',
  VALIDATION_QUEUE_NAME: 'validation',
  VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:virus-notification',
  AWS_REGION: 'us-east-1',
};

describe('configuration errors', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['a missing variable', { ...validEnv, UNPROCESSED_BUCKET_NAME: '' }, 'UNPROCESSED_BUCKET_NAME'],
    ['a bad number', { ...validEnv, MAX_FILE_SIZE: 'lots' }, 'MAX_FILE_SIZE'],
    ['a bad ARN', { ...validEnv, VIRUS_NOTIFICATION_TOPIC_ARN: 'nope' }, 'VIRUS_NOTIFICATION_TOPIC_ARN'],
  ];
  for (const [what, env, variable] of cases) {
    test(`${what} stops the worker with exit 2 and one line naming ${variable}`, () => {
      const result = runOnce(env);
      assert.equal(result.status, 2, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`^bucketscan: configuration error: ${variable}: `));
      assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
    });
  }
});

test('the bin launcher runs under an older system Node by re-executing with the project Node', () => {
  const others = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .map((dir) => join(dir, 'node'))
    .filter((candidate) => existsSync(candidate));
  const node = others[0] ?? process.execPath;
  const result = spawnSync(node, [join(root, 'bin', 'bucketscan.js'), 'version'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^bucketscan \d+\.\d+\.\d+/);
});

describe('a worker process', () => {
  let emulator: Emulator;
  let s3: S3Client;
  before(async () => {
    emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator') });
    s3 = new S3Client({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });
  after(async () => {
    s3?.destroy();
    await emulator?.stop();
  });

  function startWorker(
    env: Record<string, string>,
    args: string[] = [cli, 'worker'],
  ): { child: ChildProcess; lines: Array<Record<string, unknown>>; exit: Promise<number | null> } {
    const child = spawn(process.execPath, args, {
      env: {
        PATH: process.env['PATH'] ?? '',
        BUCKETSCAN_ENV_FILE: 'none',
        ...validEnv,
        VIRUS_NOTIFICATION_TOPIC_ARN: emulator.topicArn,
        AWS_ENDPOINT_URL: emulator.endpoint,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        RECEIVE_WAIT_TIME: '1',
        LOG_LEVEL: 'debug',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    child.stderr!.resume();
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, lines, exit };
  }

  test('waits for clamd with a clear log line, then exits 0 on SIGTERM', async () => {
    const fake = await startFakeClamd('hang');
    const address = fake.address as { host: string; port: number };
    await fake.stop();
    // Nothing listens on that port now: the worker must wait rather than fail.
    const worker = startWorker({ CLAMD_HOST: address.host, CLAMD_PORT: String(address.port) });
    const waiting = await waitFor('the waiting-for-clamd line', () =>
      worker.lines.find((l) => l['msg'] === 'waiting for clamd to answer PING'),
    );
    assert.equal(waiting['clamd'], `${address.host}:${address.port}`);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exit, 0);
  });

  test('the installed command runs the compiled worker as exactly one process, with its V8 flags', async () => {
    assert.ok(existsSync(join(root, 'dist', 'cli.js')), 'npm run build first (npm test does)');
    const fake = await startFakeClamd('hang');
    const address = fake.address as { host: string; port: number };
    await fake.stop();
    // Started without the flag, as `bucketscan worker` would be: the bin replaces itself.
    const healthPort = await freePort();
    const worker = startWorker({ CLAMD_HOST: address.host, CLAMD_PORT: String(address.port), HEALTH_PORT: String(healthPort) }, [
      join(root, 'bin', 'bucketscan.js'),
      'worker',
    ]);
    await waitFor('the compiled worker to run', () => worker.lines.find((l) => l['msg'] === 'waiting for clamd to answer PING'));
    // The bundle serves metrics too (a dynamic import of CommonJS differs there from the sources).
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    assert.match(metrics, /bucketscan_records_total\{outcome="clean",origin="event"\} 0/);
    assert.match(metrics, /bucketscan_clamd_up 0/);
    const pid = worker.child.pid!;
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(
      productionCommand().nodeArgs.every((flag) => commandLine.includes(flag)),
      `the same pid runs with the flags: ${commandLine.join(' ')}`,
    );
    const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean),
    );
    assert.deepEqual(children, [], 'no child process: the worker is the process');
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exit, 0, 'SIGTERM reaches the worker itself');
  });

  test("the compiled worker leaves Node's bundled fetch (undici) unloaded", async () => {
    // Importing node:http as an ES module reads its lazy WebSocket export, which
    // loads undici: about 2 MiB of idle memory (scripts/bundle-options.ts).
    const fake = await startFakeClamd('hang');
    const address = fake.address as { host: string; port: number };
    await fake.stop();
    const list = join(mkdtempSync(join(tmpdir(), 'bucketscan-modules-')), 'modules.txt');
    const worker = startWorker(
      {
        CLAMD_HOST: address.host,
        CLAMD_PORT: String(address.port),
        HEALTH_PORT: String(await freePort()),
        BUCKETSCAN_TEST_MODULE_LIST: list,
      },
      ['--import', join(root, 'test', 'support', 'module-list.ts'), join(root, 'dist', 'cli.js'), 'worker'],
    );
    await waitFor('the compiled worker to run', () => worker.lines.find((l) => l['msg'] === 'waiting for clamd to answer PING'));
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exit, 0);
    const loaded = readFileSync(list, 'utf8').split('\n');
    rmSync(dirname(list), { recursive: true });
    assert.ok(loaded.includes('NativeModule http'), 'node:http is loaded (the health server and the SDK use it)');
    assert.ok(
      !loaded.some((name) => name.includes('undici')),
      `undici is not loaded: ${loaded.filter((name) => name.includes('undici')).join(', ')}`,
    );
  });

  test('waits out SQS being unreachable at start instead of crashing, then exits 0 on SIGTERM', async () => {
    const fake = await startFakeClamd('hang');
    const closed = fake.address as { host: string; port: number };
    await fake.stop();
    const worker = startWorker({ AWS_ENDPOINT_URL: `http://127.0.0.1:${closed.port}` });
    const retrying = await waitFor('the queue lookup to be retried', () =>
      worker.lines.find((l) => l['msg'] === 'could not look up the queue; retrying'),
    );
    assert.equal(retrying['queue'], 'VIRUS_SCANNING_QUEUE_NAME');
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exit, 0);
  });

  test('keeps a long scan hidden with a heartbeat, and on SIGTERM returns it to the queue and exits 0 (compiled worker)', async () => {
    const fake = await startFakeClamd('hang');
    const address = fake.address as { host: string; port: number };
    const worker = startWorker(
      {
        CLAMD_HOST: address.host,
        CLAMD_PORT: String(address.port),
        VISIBILITY_TIMEOUT: '10',
        SHUTDOWN_TIMEOUT: '1',
        // A long poll outlasts the shutdown timeout, so one is under way at the deadline:
        // cut short, fauxqs (like SQS) would still hand it the returned message.
        RECEIVE_WAIT_TIME: '5',
        CLAMD_TIMEOUT: '600',
      },
      [...productionCommand().nodeArgs, join(root, 'dist', 'cli.js'), 'worker'],
    );
    try {
      await waitFor('the worker to start', () => worker.lines.find((l) => l['msg'] === 'worker started'));
      const key = `${randomUUID()}/slow.bin`;
      await s3.send(new PutObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: key, Body: 'scan me slowly' }));
      await waitFor('clamd to receive the scan', () => (fake.scans() > 0 ? true : undefined));
      const inflight = () => emulator.server.inspectQueue(RESOURCES.inboundQueueName)!.messages.inflight;
      const first = await waitFor('the message in flight', () => inflight()[0]?.visibilityDeadline);
      // The heartbeat moves the deadline on before it passes; the message is never handed out twice.
      await waitFor('a heartbeat to extend the visibility', () => {
        const deadline = inflight()[0]?.visibilityDeadline;
        return deadline !== undefined && deadline > first ? deadline : undefined;
      });
      assert.equal(inflight().length, 1);

      worker.child.kill('SIGTERM');
      assert.equal(await worker.exit, 0);
      const state = emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
      assert.equal(state.messages.inflight.length, 0, 'returned, not left in flight');
      assert.equal(state.messages.ready.length, 1, 'back on the queue for another worker');
      assert.ok(worker.lines.some((l) => l['msg'] === 'shutdown timeout reached: aborting work in progress and returning it to the queue'));
      assert.ok(!worker.lines.some((l) => l['key'] === key && (l['outcome'] === 'clean' || l['outcome'] === 'infected')));
    } finally {
      worker.child.kill('SIGKILL');
      await fake.stop();
    }
  });
});
