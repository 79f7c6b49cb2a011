// The chaos suite at a size CI can afford on every run: the same harness as
// `make chaos` (test/chaos/run.ts), with fewer files and kills. CHAOS_SEED repeats
// a run; CHAOS_FILES and CHAOS_KILLS change its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { DEFAULTS, runChaos } from './chaos.ts';
import { freshSeed } from '../../harness/random.ts';
import { renderTable } from './report.ts';

// CI takes a fixed schedule so that a red run is about the code, not the draw;
// elsewhere each run draws a new one (printed, so any failure can be repeated).
const CI_SEED = 20261121;
const seed = Number(process.env['CHAOS_SEED']) || (process.env['CI'] ? CI_SEED : freshSeed());
const files = Number(process.env['CHAOS_FILES']) || 60;
const kills = Number(process.env['CHAOS_KILLS']) || 3;

test(`chaos: ${files} files, ${kills} worker SIGKILLs, a clamd SIGKILL, S3/SQS/SNS faults (seed ${seed})`, {
  timeout: 240_000,
}, async (t) => {
  const result = await runChaos({
    ...DEFAULTS,
    files,
    kills,
    clamdKills: 1,
    outages: 2,
    seed,
    deadlineMs: 180_000,
    say: (line) => t.diagnostic(line),
  });
  const table = renderTable(result);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.deepEqual(result.failures, [], `chaos run failed; repeat with CHAOS_SEED=${seed}\n${table}`);
  // The run must have had its chaos: a pass without kills or faults proves nothing.
  assert.equal(result.worker.kills, kills, 'every planned worker kill happened');
  assert.equal(result.clamd.restarts, 1, 'clamd was killed and came back');
  assert.ok(
    Object.values(result.proxy.faults).some((count) => count > 0),
    'faults were injected',
  );
  rmSync(result.runDir, { recursive: true, force: true });
});

// A canary for the checker itself: with a clamd that calls everything clean, the
// same run must fail, with the infected files reported as forwarded and lost.
test('chaos: the end-state check catches a scanner that calls everything clean', { timeout: 120_000 }, async (t) => {
  const result = await runChaos({
    ...DEFAULTS,
    files: 30,
    kills: 0,
    clamdKills: 0,
    outages: 0,
    faultRate: 0,
    delayRate: 0,
    seed,
    scanner: 'lying',
    deadlineMs: 90_000,
    say: (line) => t.diagnostic(line),
  });
  const infected = result.verdict.byExpectation['infected'] ?? 0;
  assert.ok(infected > 0, 'the corpus has infected files');
  assert.ok(result.verdict.infectedForwarded >= infected, renderTable(result));
  assert.ok(result.verdict.lost >= infected, 'infected files never quarantined are lost');
  assert.ok(result.verdict.misplaced >= infected, 'infected files forwarded are misplaced');
  assert.ok(result.failures.some((failure) => /FORWARDED/.test(failure)));
  rmSync(result.runDir, { recursive: true, force: true });
});
