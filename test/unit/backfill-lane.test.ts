// The backfill lane of the poll loop (RESCAN_QUEUE), on Node's mock timers: the
// rescan queue is read only with the slots live uploads leave free, never ahead,
// and a live message that arrives while every slot scans rescan work starts on
// the first slot that frees: it waits for one scan, never for the backlog.
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log/logger.ts';
import { Worker, type Lane, type WorkerOptions, type WorkerQueue } from '../../src/worker/worker.ts';
import type { MessageResult } from '../../src/pipeline/process-message.ts';
import { fakeQueue, settle } from '../support/fake-queue.ts';

interface Job {
  id: string;
  lane: Lane;
  signal: AbortSignal;
  scanned: () => void;
  finish(result: MessageResult): void;
}

function worker(live: WorkerQueue, rescan: WorkerQueue | undefined, jobs: Job[], overrides: Partial<WorkerOptions> = {}): Worker {
  return new Worker({
    queue: live,
    ...(rescan ? { rescanQueue: rescan } : {}),
    concurrency: 2,
    receiveAhead: 1,
    visibilityTimeoutSeconds: 30,
    receiveWaitSeconds: 20,
    shutdownTimeoutMs: 60_000,
    retryDelaySeconds: 5,
    logger: silentLogger(),
    handle: (message, signal, scanned, lane) =>
      new Promise<MessageResult>((resolve) => {
        jobs.push({ id: message.MessageId!, lane, signal, scanned, finish: resolve });
        signal.addEventListener('abort', () => resolve({ action: 'retry', error: signal.reason }), { once: true });
      }),
    ...overrides,
  });
}

/** Ends every job, stops the worker, lets the long polls run out. */
async function stopAll(w: Worker, jobs: Job[]): Promise<void> {
  const stopping = w.stop();
  await settle();
  mock.timers.tick(20_000);
  await settle();
  for (const job of jobs) job.finish({ action: 'delete' });
  await stopping;
}

/** Starts the worker and lets the first long poll of an empty inbound queue run out (20 s): uploads have left capacity free. */
async function startIdle(w: Worker): Promise<void> {
  void w.start();
  await settle();
  mock.timers.tick(20_000);
  await settle();
}

/** Scans the job to its verdict and finishes it (deleted). */
async function complete(job: Job): Promise<void> {
  job.scanned();
  job.finish({ action: 'delete' });
  await settle();
}

describe('the backfill lane', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
  afterEach(() => mock.timers.reset());

  test('with nothing live, rescan work fills the free slots, never more, and nothing is received ahead for it', async () => {
    const live = fakeQueue(0, 'live');
    const rescan = fakeQueue(100, 'rescan');
    const jobs: Job[] = [];
    const w = worker(live.queue, rescan.queue, jobs);
    void w.start();
    await settle();
    assert.deepEqual(rescan.receives, [], 'not before the inbound queue has once come back short');
    mock.timers.tick(20_000);
    await settle();
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['rescan0', 'rescan1'],
    );
    assert.deepEqual(rescan.receives, [2], 'asked for the two free slots only');
    assert.equal(w.inFlight, 2, 'no rescan message is held beyond the slots');
    // Each verdict frees a slot, which the next rescan message takes: one receive per free slot.
    for (let n = 0; n < 10; n += 1) await complete(jobs[n]!);
    assert.equal(jobs.length, 12);
    assert.ok(
      rescan.receives.every((max) => max <= 2),
      `never more than the free slots: ${rescan.receives.join(',')}`,
    );
    assert.deepEqual(rescan.removed.slice(0, 3), ['rescan0', 'rescan1', 'rescan2'], 'finished rescan messages leave the rescan queue');
    assert.deepEqual(live.removed, []);
    await stopAll(w, jobs.slice(10));
  });

  test('a live message arriving while every slot scans rescan work starts on the first slot that frees', async () => {
    const live = fakeQueue(0, 'live');
    const rescan = fakeQueue(1000, 'rescan');
    const jobs: Job[] = [];
    const w = worker(live.queue, rescan.queue, jobs);
    await startIdle(w);
    for (let n = 0; n < 6; n += 1) await complete(jobs[n]!);
    const running = jobs.slice(6).map((j) => j.id);
    assert.deepEqual(running, ['rescan6', 'rescan7'], 'both slots scan rescan work');
    const receivesBefore = rescan.receives.length;

    // An upload: the inbound queue's long poll (kept up for the read-ahead) brings it at once.
    live.add(1);
    await settle();
    assert.equal(jobs.length, 8, 'it waits: both slots are scanning');
    assert.equal(rescan.receives.length, receivesBefore, 'no rescan receive while a live message waits');

    // The first of the running scans to end hands its slot to the live message, not to more rescan work.
    jobs[7]!.scanned();
    await settle();
    assert.deepEqual(
      jobs.slice(8).map((j) => j.id),
      ['live0'],
    );
    assert.equal(jobs[8]!.lane, 'live');
    assert.equal(rescan.receives.length, receivesBefore, 'still no rescan receive: the live receive came back full');
    // The backlog is still there: the live message did not wait for it.
    assert.ok(rescan.left > 900, `${rescan.left} rescan messages left`);

    // Once the live lane comes back short again, rescan work resumes in what it leaves free.
    jobs[7]!.finish({ action: 'delete' });
    jobs[6]!.scanned();
    jobs[6]!.finish({ action: 'delete' });
    await settle();
    mock.timers.tick(20_000);
    await settle();
    assert.ok(
      jobs.slice(9).some((j) => j.lane === 'rescan'),
      'rescan work resumes once uploads leave a slot free',
    );
    assert.deepEqual(live.removed, []);
    await stopAll(w, jobs.slice(6));
  });

  test('a live backlog keeps the rescan queue unread until it is drained', async () => {
    const live = fakeQueue(6, 'live');
    const rescan = fakeQueue(10, 'rescan');
    const jobs: Job[] = [];
    const w = worker(live.queue, rescan.queue, jobs);
    void w.start();
    await settle();
    // Every receive from the inbound queue comes back full while the backlog lasts.
    for (let done = 0; done < 6; done += 1) {
      assert.ok(
        jobs.every((j) => j.lane === 'live'),
        'no rescan work while uploads wait',
      );
      await complete(jobs[done]!);
    }
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['live0', 'live1', 'live2', 'live3', 'live4', 'live5'],
    );
    assert.deepEqual(rescan.receives, [], 'the last receive was full: there may be more uploads');
    // The next receive finds the inbound queue empty (its long poll runs out): now the rescan queue is read.
    mock.timers.tick(20_000);
    await settle();
    assert.deepEqual(
      jobs.slice(6).map((j) => j.id),
      ['rescan0', 'rescan1'],
    );
    await stopAll(w, jobs.slice(6));
  });

  test('rescan messages that arrive after uploads took the slots wait behind every upload', async () => {
    const live = fakeQueue(0, 'live');
    const rescan = fakeQueue(0, 'rescan');
    const jobs: Job[] = [];
    const w = worker(live.queue, rescan.queue, jobs);
    await startIdle(w);
    assert.deepEqual(rescan.receives, [2], 'a long poll of the rescan queue for the two free slots');
    // Uploads arrive first and take both slots (one waits); then the rescan long poll brings its two.
    live.add(3);
    await settle();
    rescan.add(2);
    await settle();
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['live0', 'live1'],
    );
    // Each freed slot goes to an upload while one waits, whatever else was received.
    await complete(jobs[0]!);
    assert.deepEqual(
      jobs.slice(2).map((j) => j.id),
      ['live2'],
    );
    await complete(jobs[1]!);
    assert.deepEqual(
      jobs.slice(3).map((j) => j.id),
      ['rescan0'],
    );
    await stopAll(w, jobs.slice(2));
  });

  test('the stop hands back rescan messages to the rescan queue, live ones to the inbound queue', async () => {
    const live = fakeQueue(0, 'live');
    const rescan = fakeQueue(10, 'rescan');
    const jobs: Job[] = [];
    const w = worker(live.queue, rescan.queue, jobs, { shutdownTimeoutMs: 1_000 });
    await startIdle(w);
    live.add(1);
    await settle();
    const stopping = w.stop();
    await settle();
    mock.timers.tick(20_000);
    await settle();
    await stopping;
    // The live message was waiting: handed straight back to its own queue; the scans were aborted at the deadline.
    assert.deepEqual(
      live.returned.filter((r) => r.seconds === 0).map((r) => r.id),
      ['live0'],
    );
    assert.deepEqual(
      rescan.returned
        .filter((r) => r.seconds === 0)
        .map((r) => r.id)
        .sort(),
      ['rescan0', 'rescan1'],
    );
  });

  test('without a rescan queue the loop is as before', async () => {
    const live = fakeQueue(3, 'live');
    const jobs: Job[] = [];
    const w = worker(live.queue, undefined, jobs);
    void w.start();
    await settle();
    assert.deepEqual(
      jobs.map((j) => `${j.id}:${j.lane}`),
      ['live0:live', 'live1:live'],
    );
    await stopAll(w, jobs);
  });
});
