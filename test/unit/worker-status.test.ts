// /readyz and the gauges as pure functions of one snapshot of the worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clamdUp, gauges, readiness, type WorkerSnapshot } from '../../src/worker/status.ts';
import type { FreshnessState } from '../../src/scan/freshness.ts';

const loop = { ready: true, dependencyUp: true, inFlight: 3 };
const stale: FreshnessState = {
  status: 'stale',
  ageSeconds: 200_000,
  databaseVersion: 27000,
  databaseDate: '2026-11-20T09:00:00',
  detail: 'definitions are stale',
  pause: true,
  clamav: '1.4.6',
  checkedAt: '2026-11-22T09:00:00.000Z',
  consecutiveFailures: 0,
};

test('ready only while running with a loop that takes messages', () => {
  const starting: WorkerSnapshot = { phase: 'starting', loop: undefined, definitions: undefined };
  assert.deepEqual(readiness(starting), {
    ready: false,
    detail: { phase: 'starting', clamd: undefined, paused: undefined, inFlight: 0 },
  });
  assert.equal(readiness({ phase: 'waiting-for-clamd', loop: undefined, definitions: undefined }).ready, false);
  assert.equal(readiness({ phase: 'running', loop, definitions: undefined }).ready, true);
  assert.equal(readiness({ phase: 'stopped', loop, definitions: undefined }).ready, false);
  const down = readiness({ phase: 'running', loop: { ...loop, ready: false, dependencyUp: false }, definitions: undefined });
  assert.equal(down.ready, false);
  assert.equal(down.detail['clamd'], 'unavailable');
  assert.equal(down.detail['inFlight'], 3);
});

test('paused on stale definitions, with the definitions in the detail', () => {
  const paused = readiness({ phase: 'running', loop: { ...loop, ready: false }, definitions: stale });
  assert.equal(paused.ready, false);
  assert.equal(paused.detail['paused'], 'stale definitions (STALE_DEFINITIONS=pause)');
  assert.deepEqual(paused.detail['definitions'], {
    status: 'stale',
    ageSeconds: 200_000,
    databaseVersion: 27000,
    databaseDate: '2026-11-20T09:00:00',
    detail: 'definitions are stale',
  });
});

test('clamd is up as the loop says while running, down while waiting for it, unknown otherwise', () => {
  assert.equal(clamdUp({ phase: 'starting', loop: undefined, definitions: undefined }), undefined);
  assert.equal(clamdUp({ phase: 'waiting-for-clamd', loop: undefined, definitions: undefined }), false);
  assert.equal(clamdUp({ phase: 'running', loop, definitions: undefined }), true);
  assert.equal(clamdUp({ phase: 'running', loop: { ...loop, dependencyUp: false }, definitions: undefined }), false);
  assert.equal(clamdUp({ phase: 'stopped', loop, definitions: undefined }), undefined);
});

test('the gauges read a fresh snapshot each time', () => {
  let snapshot: WorkerSnapshot = { phase: 'starting', loop: undefined, definitions: undefined };
  const read = gauges(() => snapshot);
  assert.equal(read.inFlight(), 0);
  assert.equal(read.definitionsAgeSeconds(), undefined);
  snapshot = { phase: 'running', loop, definitions: stale };
  assert.equal(read.inFlight(), 3);
  assert.equal(read.clamdUp(), true);
  assert.equal(read.definitionsAgeSeconds(), 200_000);
});
