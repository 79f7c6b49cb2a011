// ECS task scale-in protection (src/worker/task-protection.ts) against a local
// HTTP server standing in for the ECS agent endpoint, with a hand-driven clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  agentFetch,
  createTaskProtection,
  PROTECTION_MINUTES,
  RELEASE_AFTER_MS,
  RETRY_MS,
  taskProtectionFromEnvironment,
  type ProtectionLogger,
  type ProtectionTimers,
} from '../../src/worker/task-protection.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { Worker } from '../../src/worker/worker.ts';
import { waitFor } from '../support/wait.ts';

interface AgentCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

/** The agent's task-protection endpoint: records every call and answers as `answer` says. */
async function startAgent(): Promise<{
  uri: string;
  calls: AgentCall[];
  /** hang: the call is read and never answered. */
  answer: { status: number; body: unknown; hang?: boolean };
  stop(): Promise<void>;
}> {
  const calls: AgentCall[] = [];
  const answer: { status: number; body: unknown; hang?: boolean } = { status: 200, body: { protection: { ProtectionEnabled: true } } };
  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      calls.push({ method: request.method ?? '', path: request.url ?? '', body: JSON.parse(text || '{}') as Record<string, unknown> });
      if (answer.hang) return;
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/api/task-id`,
    calls,
    answer,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Timers that fire only when the test advances its clock. */
class ManualTimers implements ProtectionTimers {
  now = 0;
  #pending: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  after(ms: number, fn: () => void): () => void {
    const entry = { at: this.now + ms, fn, cancelled: false };
    this.#pending.push(entry);
    return () => {
      entry.cancelled = true;
    };
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.#pending.filter((e) => !e.cancelled && e.at <= this.now);
    this.#pending = this.#pending.filter((e) => !due.includes(e));
    for (const entry of due) entry.fn();
  }
  get waiting(): number {
    return this.#pending.filter((e) => !e.cancelled).length;
  }
}

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const logger: ProtectionLogger = {
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  };
  return { logger, lines };
}

const enabled = { ProtectionEnabled: true, ExpiresInMinutes: PROTECTION_MINUTES };
const disabled = { ProtectionEnabled: false };
const callsReach = (calls: AgentCall[], n: number) => waitFor(`${n} agent call(s)`, () => (calls.length >= n ? true : undefined));

test('protected while messages are held, renewed before it lapses, released once idle', async () => {
  const agent = await startAgent();
  const timers = new ManualTimers();
  const { logger } = recordingLogger();
  const protection = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers, logger });
  try {
    protection.update(1);
    await callsReach(agent.calls, 1);
    assert.deepEqual(agent.calls[0], { method: 'PUT', path: '/api/task-id/task-protection/v1/state', body: enabled });
    protection.update(3);
    protection.update(2);
    // More work while protected: no call.
    await waitFor('the renewal timer', () => (timers.waiting > 0 ? true : undefined));
    assert.equal(agent.calls.length, 1);
    timers.advance((PROTECTION_MINUTES * 60_000) / 2);
    await callsReach(agent.calls, 2);
    assert.deepEqual(agent.calls[1]!.body, enabled, 'renewed while busy');
    protection.update(0);
    timers.advance(RELEASE_AFTER_MS - 1);
    assert.equal(agent.calls.length, 2, 'not released at once: a trickle of files would cost two calls each');
    timers.advance(1);
    await callsReach(agent.calls, 3);
    assert.deepEqual(agent.calls[2]!.body, disabled);
  } finally {
    await protection.stop();
    await agent.stop();
  }
  assert.equal(agent.calls.length, 3, 'nothing to clear at stop');
});

test('work that returns before the release keeps the protection without a call', async () => {
  const agent = await startAgent();
  const timers = new ManualTimers();
  const protection = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers, logger: recordingLogger().logger });
  try {
    protection.update(1);
    await callsReach(agent.calls, 1);
    protection.update(0);
    timers.advance(RELEASE_AFTER_MS / 2);
    protection.update(1);
    timers.advance(RELEASE_AFTER_MS);
    assert.equal(agent.calls.length, 1);
  } finally {
    await protection.stop();
    await agent.stop();
  }
  assert.deepEqual(agent.calls.at(-1)!.body, disabled, 'stop clears a protection it holds');
});

test('a failing agent is logged once, never thrown, and retried until it works', async () => {
  const agent = await startAgent();
  agent.answer.status = 400;
  agent.answer.body = { failure: { Arn: 'task', Reason: 'TASK_NOT_VALID', Detail: 'not a service task' } };
  const timers = new ManualTimers();
  const { logger, lines } = recordingLogger();
  const protection = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers, logger });
  try {
    protection.update(1);
    await callsReach(agent.calls, 1);
    await waitFor('the warning', () => lines.find((l) => l.level === 'warn'));
    assert.match(String(lines[0]!.fields['error']), /HTTP 400: TASK_NOT_VALID not a service task/);
    assert.match(lines[0]!.message, /scanning goes on/);
    timers.advance(RETRY_MS);
    await callsReach(agent.calls, 2);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 1, 'one warning per failing spell');
    agent.answer.status = 200;
    agent.answer.body = { protection: { ProtectionEnabled: true } };
    await waitFor('the retry timer', () => (timers.waiting > 0 ? true : undefined));
    timers.advance(RETRY_MS);
    await waitFor('the recovery', () => lines.find((l) => l.level === 'info'));
    assert.equal(lines.at(-1)!.message, 'task scale-in protection works again');
  } finally {
    await protection.stop();
    await agent.stop();
  }
});

test('an agent that answers 200 with an error body counts as a failure; an unreachable one too', async () => {
  const agent = await startAgent();
  agent.answer.body = { error: { Code: 'AccessDeniedException', Message: 'ecs:UpdateTaskProtection' } };
  const { logger, lines } = recordingLogger();
  const protection = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers: new ManualTimers(), logger });
  protection.update(1);
  await waitFor('the warning', () => lines.find((l) => l.level === 'warn'));
  assert.match(String(lines[0]!.fields['error']), /AccessDeniedException ecs:UpdateTaskProtection/);
  await protection.stop();
  await agent.stop();

  const gone = recordingLogger();
  const orphan = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers: new ManualTimers(), logger: gone.logger });
  orphan.update(2);
  await waitFor('the warning', () => gone.lines.find((l) => l.level === 'warn'));
  await orphan.stop();
});

test('an agent that never answers: the call gives up at its limit and is logged as a failure', async () => {
  const agent = await startAgent();
  agent.answer.hang = true;
  const { logger, lines } = recordingLogger();
  const protection = createTaskProtection({ agentUri: agent.uri, fetch: agentFetch, timers: new ManualTimers(), logger, timeoutMs: 200 });
  protection.update(1);
  const warning = await waitFor('the warning', () => lines.find((l) => l.level === 'warn'));
  assert.match(String(warning.fields['error']), /timeout|aborted/i);
  assert.deepEqual(agent.calls[0]?.body, enabled, 'the call was made and read in full');
  await protection.stop();
  await agent.stop();
});

test('outside ECS (no ECS_AGENT_URI) there is no protection at all', () => {
  assert.equal(taskProtectionFromEnvironment({}, recordingLogger().logger), undefined);
  assert.equal(taskProtectionFromEnvironment({ ECS_AGENT_URI: ' ' }, recordingLogger().logger), undefined);
  assert.ok(taskProtectionFromEnvironment({ ECS_AGENT_URI: 'http://169.254.170.2/api/x' }, recordingLogger().logger));
});

test('the Worker reports its in-flight count to the hook, up with each message held and back to 0', async () => {
  let left = 3;
  const counts: number[] = [];
  const finishers: Array<() => void> = [];
  const worker = new Worker({
    queue: {
      async receive(max, signal) {
        if (left === 0) {
          // An empty queue: a short long poll (the stop waits for it to come back).
          await new Promise<void>((resolve) => {
            setTimeout(resolve, 20);
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          return [];
        }
        const count = Math.min(max, left);
        left -= count;
        return Array.from({ length: count }, (_, i) => ({ MessageId: `m${left + i}`, ReceiptHandle: `m${left + i}`, Body: '{}' }));
      },
      changeVisibility: async () => undefined,
      remove: async () => undefined,
    },
    concurrency: 3,
    receiveAhead: 0,
    visibilityTimeoutSeconds: 60,
    receiveWaitSeconds: 20,
    shutdownTimeoutMs: 1_000,
    retryDelaySeconds: 1,
    logger: silentLogger(),
    handle: () => new Promise((resolve) => finishers.push(() => resolve({ action: 'delete' }))),
    onInFlight: (count) => counts.push(count),
  });
  void worker.start();
  await waitFor('three messages held', () => (finishers.length === 3 ? true : undefined));
  assert.deepEqual(counts, [1, 2, 3]);
  for (const finish of finishers) finish();
  await waitFor('all settled', () => (counts.at(-1) === 0 ? true : undefined));
  assert.deepEqual(counts, [1, 2, 3, 2, 1, 0]);
  await worker.stop();
});
