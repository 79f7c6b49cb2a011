// The poll loop on its own, through the small queue interface, with Node's mock
// timers: how much it receives, receiving ahead, freeing a slot at the verdict,
// pausing, backoff after a failed receive, the outage pause, and the shutdown.
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log/logger.ts';
import { Worker, type WorkerOptions, type WorkerQueue } from '../../src/worker/worker.ts';
import type { Message } from '../../src/aws/queue.ts';
import type { MessageResult } from '../../src/pipeline/process-message.ts';
import { fakeQueue, settle } from '../support/fake-queue.ts';

interface Job {
  message: Message;
  signal: AbortSignal;
  scanned: () => void;
  finish(result: MessageResult): void;
}

/** Stops the worker: the long poll under way ends (20 s of mock time) and `jobs` finish. */
async function stopAll(w: Worker, jobs: Job[], finish = true): Promise<void> {
  const stopping = w.stop();
  await settle();
  mock.timers.tick(20_000);
  await settle();
  if (finish) for (const job of jobs) job.finish({ action: 'delete' });
  await stopping;
}

function worker(queue: WorkerQueue, jobs: Job[], overrides: Partial<WorkerOptions> = {}): Worker {
  return new Worker({
    queue,
    concurrency: 2,
    receiveAhead: 1,
    visibilityTimeoutSeconds: 30,
    receiveWaitSeconds: 20,
    shutdownTimeoutMs: 60_000,
    retryDelaySeconds: 5,
    logger: silentLogger(),
    handle: (message, signal, scanned) =>
      new Promise<MessageResult>((resolve) => {
        jobs.push({ message, signal, scanned, finish: resolve });
        signal.addEventListener('abort', () => resolve({ action: 'retry', error: signal.reason }), { once: true });
      }),
    ...overrides,
  });
}

/** A started worker on an empty queue, with `slots` slots and as many received ahead. */
async function startIdle(slots: number) {
  const q = fakeQueue(0);
  const jobs: Job[] = [];
  const w = worker(q.queue, jobs, { concurrency: slots, receiveAhead: slots });
  void w.start();
  await settle();
  return { q, jobs, w };
}

describe('the poll loop', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
  afterEach(() => mock.timers.reset());

  test('fills the slots, receives one ahead, and takes no more while all are held', async () => {
    const q = fakeQueue(10);
    const jobs: Job[] = [];
    const w = worker(q.queue, jobs);
    void w.start();
    await settle();
    assert.deepEqual(q.receives, [3], 'two for the slots and one ahead');
    assert.equal(jobs.length, 2, 'two scanning, one waiting');
    assert.equal(w.inFlight, 3);
    // A verdict frees the slot at once: the waiting message starts, and one more is received ahead.
    jobs[0]!.scanned();
    await settle();
    assert.equal(jobs.length, 3);
    assert.deepEqual(q.receives, [3, 1]);
    // The first message is still finishing (network steps): it stays held until its result.
    jobs[0]!.finish({ action: 'delete' });
    await settle();
    assert.deepEqual(q.removed, ['m0']);
    await stopAll(w, jobs.slice(1));
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [{ id: 'm3', seconds: 0 }],
      'the one received ahead is handed back at the stop',
    );
  });

  test('a second receive goes out beside one under way once half the slots are wanted, never a third', async () => {
    // An empty queue: the first receive waits like a long poll.
    const { q, jobs, w } = await startIdle(4);
    assert.deepEqual(q.receives, [8], 'one receive for the four slots and four ahead, and no second while it asks for all that is wanted');
    // Three uploads arrive: the long poll brings them; three slots scan, and another receive asks for what they freed.
    q.add(3);
    await settle();
    assert.equal(jobs.length, 3);
    assert.deepEqual(q.receives, [8, 5], 'the first brought 3 of its 8: the next asks for the one free slot and the four ahead');
    // While that one waits, two verdicts free two slots: 2 wanted beyond its ask, half the slots.
    jobs[0]!.scanned();
    jobs[1]!.scanned();
    await settle();
    assert.deepEqual(q.receives, [8, 5, 2], 'a second receive beside the one under way');
    // A third verdict: one more wanted, but two receives are under way already.
    jobs[2]!.scanned();
    await settle();
    assert.deepEqual(q.receives, [8, 5, 2], 'never a third');
    await stopAll(w, jobs);
  });

  test('an idle worker keeps one long poll, even when it wants more than one receive may ask for', async () => {
    const { q, jobs, w } = await startIdle(8);
    assert.deepEqual(q.receives, [10], '16 wanted, 10 asked: the rest was wanted when it left, so no second receive');
    await stopAll(w, jobs);
  });

  test('a message that needs a retry comes back after a backoff growing with its receive count', async () => {
    const q = fakeQueue(1);
    const jobs: Job[] = [];
    const w = worker(q.queue, jobs);
    void w.start();
    await settle();
    jobs[0]!.finish({ action: 'retry', error: new Error('S3 500') });
    await settle();
    assert.deepEqual(q.returned, [{ id: 'm0', seconds: 5 }]);
    await stopAll(w, [], false);
  });

  test('while paused nothing is received; recheck resumes', async () => {
    const q = fakeQueue(5);
    const jobs: Job[] = [];
    let paused = true;
    const w = worker(q.queue, jobs, { paused: () => paused });
    void w.start();
    await settle();
    assert.deepEqual(q.receives, []);
    assert.equal(w.ready, false);
    paused = false;
    w.recheck();
    await settle();
    assert.deepEqual(q.receives, [3]);
    assert.equal(w.ready, true);
    await stopAll(w, jobs);
  });

  test('a failed receive is retried after a backoff, not in a tight loop', async () => {
    const q = fakeQueue(1);
    q.failReceives(2);
    const jobs: Job[] = [];
    const w = worker(q.queue, jobs);
    void w.start();
    await settle();
    assert.equal(q.receives.length, 1);
    mock.timers.tick(999);
    await settle();
    assert.equal(q.receives.length, 1, 'nothing before the first second');
    mock.timers.tick(1);
    await settle();
    assert.equal(q.receives.length, 2);
    mock.timers.tick(2000);
    await settle();
    // Then after two seconds; that one brings the message, and the next long-polls for more.
    assert.equal(q.receives.length, 4, 'then after two seconds');
    assert.equal(jobs.length, 1);
    await stopAll(w, jobs);
  });

  test('an outage hands back what was received ahead and stops receiving until clamd is back', async () => {
    const q = fakeQueue(10);
    const jobs: Job[] = [];
    let recover!: (ok: boolean) => void;
    const outageError = new Error('clamd down');
    const w = worker(q.queue, jobs, {
      outage: { isOutage: (error) => error === outageError, recovered: () => new Promise((resolve) => (recover = resolve)) },
    });
    void w.start();
    await settle();
    jobs[0]!.finish({ action: 'retry', error: outageError });
    await settle();
    assert.equal(w.ready, false);
    assert.deepEqual(q.returned.map((r) => r.id).sort(), ['m0', 'm2'], 'the failed one (with its backoff) and the waiting one (at once)');
    assert.equal(q.returned.find((r) => r.id === 'm2')?.seconds, 0);
    const receivesDuringOutage = q.receives.length;
    jobs[1]!.finish({ action: 'delete' });
    await settle();
    assert.equal(q.receives.length, receivesDuringOutage, 'no receive while clamd is down');
    recover(true);
    await settle();
    assert.equal(w.ready, true);
    assert.ok(q.receives.length > receivesDuringOutage);
    await stopAll(w, jobs.slice(2));
  });

  test('an outage returns the waiting messages only once the long poll under way has come back, so it cannot take them again', async () => {
    // Two messages: m0 scans, m1 waits, and a receive for one more waits like a long poll on the empty queue.
    const q = fakeQueue(2);
    const jobs: Job[] = [];
    const outageError = new Error('clamd down');
    const w = worker(q.queue, jobs, {
      concurrency: 1,
      receiveAhead: 2,
      outage: { isOutage: (error) => error === outageError, recovered: () => new Promise(() => undefined) },
    });
    void w.start();
    await settle();
    assert.deepEqual(q.receives, [3, 1], 'the second receive is under way');
    jobs[0]!.finish({ action: 'retry', error: outageError });
    await settle();
    assert.equal(w.ready, false);
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [],
      'm1 stays hidden (its heartbeat runs) while the receive could take it straight back',
    );
    mock.timers.tick(20_000);
    await settle();
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [{ id: 'm1', seconds: 0 }],
    );
    assert.deepEqual(q.receives, [3, 1], 'no receive while clamd is down');
  });

  test('at the shutdown deadline work in progress is aborted, and returned once the long poll under way has come back', async () => {
    const q = fakeQueue(1);
    const signals: AbortSignal[] = [];
    const queue: WorkerQueue = {
      ...q.queue,
      receive: (max, signal) => {
        signals.push(signal);
        return q.queue.receive(max, signal);
      },
    };
    const jobs: Job[] = [];
    const w = worker(queue, jobs, { shutdownTimeoutMs: 10_000 });
    void w.start();
    await settle();
    let stopped = false;
    const stopping = w.stop().then(() => {
      stopped = true;
    });
    await settle();
    mock.timers.tick(9_999);
    await settle();
    assert.equal(stopped, false, 'the scan gets the whole shutdown timeout');
    assert.equal(jobs[0]!.signal.aborted, false);
    mock.timers.tick(1);
    await settle();
    assert.equal(jobs[0]!.signal.aborted, true);
    // SQS may still hand messages to a long poll cut short on the client, and
    // nobody would read them: the receive is let to come back, and the return waits for it.
    assert.equal(signals.at(-1)!.aborted, false, 'the long poll is not cut short');
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [],
      'not returned while a receive could take it',
    );
    mock.timers.tick(10_000);
    await settle();
    await stopping;
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [{ id: 'm0', seconds: 0 }],
    );
    assert.ok(signals.every((signal) => !signal.aborted));
  });

  test('a receive that outlives its long poll by the stall margin is aborted, and the stop then returns what it held', async () => {
    const q = fakeQueue(1);
    let hung = 0;
    const queue: WorkerQueue = {
      ...q.queue,
      receive: async (max, signal) => {
        if (q.left > 0) return q.queue.receive(max, signal);
        // A stalled connection: no answer until the abort.
        hung += 1;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        throw signal.reason;
      },
    };
    const jobs: Job[] = [];
    const w = worker(queue, jobs, { concurrency: 1, receiveAhead: 1, shutdownTimeoutMs: 1_000 });
    void w.start();
    await settle();
    assert.equal(jobs.length, 1);
    assert.equal(hung, 1, 'one scanning, and a receive for the one ahead that never answers');
    const stopping = w.stop();
    await settle();
    mock.timers.tick(1_000);
    await settle();
    assert.equal(jobs[0]!.signal.aborted, true);
    mock.timers.tick(28_999);
    await settle();
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [],
      'nothing returned while the receive may still take it',
    );
    mock.timers.tick(1);
    await settle();
    await stopping;
    assert.deepEqual(
      q.returned.filter((r) => r.seconds === 0),
      [{ id: 'm0', seconds: 0 }],
    );
  });

  test('a message is returned only once its heartbeat under way has landed, so the heartbeat cannot hide it again', async () => {
    const q = fakeQueue(1);
    const calls: string[] = [];
    let land = () => {};
    const queue: WorkerQueue = {
      ...q.queue,
      changeVisibility: async (handle, seconds) => {
        if (seconds !== 30) {
          calls.push(`${handle} back in ${seconds} s`);
          return;
        }
        // The heartbeat's change: slow to land, as one on another connection can be.
        calls.push(`${handle} heartbeat sent`);
        await new Promise<void>((resolve) => {
          land = resolve;
        });
        calls.push(`${handle} heartbeat landed`);
      },
    };
    const jobs: Job[] = [];
    const w = worker(queue, jobs);
    void w.start();
    await settle();
    mock.timers.tick(10_000);
    await settle();
    jobs[0]!.finish({ action: 'retry', error: new Error('S3 500') });
    await settle();
    assert.deepEqual(calls, ['m0 heartbeat sent'], 'the return waits for the heartbeat');
    land();
    await settle();
    assert.equal(calls.length, 3);
    assert.deepEqual(calls.slice(0, 2), ['m0 heartbeat sent', 'm0 heartbeat landed']);
    assert.match(calls[2]!, /^m0 back in \d+ s$/);
    await stopAll(w, jobs);
  });

  test('messages stuck in their network steps pile up only to the bound: the slots twice, the read-ahead and a batch of forwards', async () => {
    const q = fakeQueue(100);
    const jobs: Job[] = [];
    const w = worker(q.queue, jobs);
    void w.start();
    // Every scan ends at once, and every message then waits in its network steps (its forward never answers).
    for (let round = 0; round < 50; round += 1) {
      for (const job of jobs) job.scanned();
      await settle();
    }
    // 2 slots, 1 ahead: 2 × 2 + 1, and 10 forwards that may wait for one batch.
    assert.equal(w.inFlight, 15);
    assert.equal(
      q.receives.reduce((sum, count) => sum + count, 0),
      15,
      'nothing more is asked for while the bound is reached',
    );
    await stopAll(w, jobs);
  });

  test('the visibility heartbeat keeps every held message hidden, waiting ones included', async () => {
    const q = fakeQueue(3);
    const jobs: Job[] = [];
    const w = worker(q.queue, jobs);
    void w.start();
    await settle();
    mock.timers.tick(10_000);
    await settle();
    assert.deepEqual(q.returned.map((r) => `${r.id}:${r.seconds}`).sort(), ['m0:30', 'm1:30', 'm2:30']);
    await stopAll(w, jobs);
  });
});
