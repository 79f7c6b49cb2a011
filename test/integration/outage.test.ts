// clamd going away under a running worker: it must stop taking messages (so good
// messages are not walked towards the dead-letter queue), say it is not ready, and
// resume by itself when clamd is back. Also: bodies of files it never scans must
// not hold the SDK's sockets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log/logger.ts';
import { startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { outcomeFor, RESOURCES, startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../../src/local/free-port.ts';

const MB = 1024 * 1024;
let workDir: string;
let clamdPort: number;
let clamd: ClamdProcess | undefined;
let healthPort: number;
let stack: TestStack;

const startOurClamd = () => startClamd({ workDir, port: clamdPort, streamMaxBytes: 16 * MB, logger: createLogger('warn', 'clamd') });

async function readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'bucketscan-outage-'));
  clamdPort = await freePort();
  healthPort = await freePort();
  clamd = await startOurClamd();
  stack = await startTestStack({
    clamd: clamd.address,
    env: { HEALTH_PORT: String(healthPort), RETRY_DELAY: '1', CONCURRENCY: '2', RECEIVE_AHEAD: '1', MAX_FILE_SIZE: '1' },
  });
  stack.startWorker();
});

after(async () => {
  await stack?.stop();
  await clamd?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

test('liveness and readiness while all is well', async () => {
  await waitFor('readiness', async () => ((await readiness()).status === 200 ? true : undefined));
  const alive = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
  assert.equal(alive.status, 200);
});

test('bodies of files that are never scanned do not exhaust the socket pool', async () => {
  // 40 over-limit files with CONCURRENCY=2: the pool has 16 sockets, so a leaked
  // body per file would stall the worker long before the last one.
  const keys = Array.from({ length: 40 }, () => `${randomUUID()}/big.bin`);
  await Promise.all(keys.map((key) => stack.put(key, Buffer.alloc(MB + 1, 1))));
  for (const key of keys) await outcomeFor(stack.logs, key, 'too-large');
});

test('clamd down: the worker stops taking messages, reports not ready, and resumes by itself', async () => {
  const first = `${randomUUID()}/before.txt`;
  await stack.put(first, 'scanned while clamd is up');
  await outcomeFor(stack.logs, first, 'clean');

  await clamd!.stop();
  clamd = undefined;
  const during = Array.from({ length: 5 }, (_, i) => `${randomUUID()}/during-${i}.txt`);
  for (const key of during) await stack.put(key, `uploaded while clamd is down ${key}`);

  await waitFor('the outage to be noticed', () =>
    stack.logs.find((l) => l['msg'] === 'clamd is unavailable: not taking new messages until it answers again'),
  );
  await waitFor('readiness to drop', async () => ((await readiness()).status === 503 ? true : undefined));
  const failed = stack.logs.lines.filter((l) => l['outcome'] === 'retry').length;
  assert.ok(failed >= 1 && failed <= 2, `only the messages in work when clamd went away fail (CONCURRENCY=2), saw ${failed}`);
  // Besides those in work, at most the one received ahead (RECEIVE_AHEAD=1) was
  // touched, and handed back: the rest are never received while clamd is down.
  const state = stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!;
  const untouched = state.messages.ready.filter((m) => (m.approximateReceiveCount ?? 0) === 0).length;
  assert.ok(untouched >= during.length - 3, `messages left alone during the outage: ${untouched}`);
  // Only the failed ones wait out their retry delay; the one received ahead is handed back at once.
  await waitFor('messages received ahead to be handed back', () =>
    stack.emulator.server.inspectQueue(RESOURCES.inboundQueueName)!.messages.ready.length >= during.length - failed ? true : undefined,
  );

  clamd = await startOurClamd();
  await waitFor('the worker to resume', () => stack.logs.find((l) => l['msg'] === 'clamd answers again: taking messages'));
  for (const key of during) await outcomeFor(stack.logs, key, 'clean');
  await waitFor('readiness to return', async () => ((await readiness()).status === 200 ? true : undefined));
  const dlq = stack.emulator.server.inspectQueue(RESOURCES.deadLetterQueueName)!;
  assert.equal(dlq.messages.ready.length, 0, 'nothing reached the dead-letter queue');
});
