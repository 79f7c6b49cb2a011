// The benchmark's arithmetic (issue 7): the latency-bound ceiling, the soak's
// drift, and reading the production command. The measurements themselves are
// covered by the smoke run (test/integration/bench-smoke.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latencyCeiling } from '../../bench/network.ts';
import { FULL_OPTIONS } from '../../bench/options.ts';
import { parseWorkerScript } from '../../bench/production.ts';
import { PRICES, priceClass, summarizeRequests } from '../../bench/prices.ts';
import { checkTargets, whyMissed } from '../../bench/report.ts';
import { readResults, saveResults, type BenchResults, type SoakSample } from '../../bench/results.ts';
import { soakDrift } from '../../bench/soak.ts';

test('the latency-bound ceiling is concurrency over (round trips × round trip + scan)', () => {
  // 4 slots, 2 round trips of 20 ms and a 2 ms scan: 42 ms a file per slot.
  assert.deepEqual(latencyCeiling(4, 2, 20, 2), { concurrency: 4, perFileMs: 42, filesPerSecond: 95.24 });
  assert.equal(latencyCeiling(1, 2, 50, 0).filesPerSecond, 10);
});

const sample = (files: number, rssMiB: number, fds: number): SoakSample => ({ t: files / 100, files, rssMiB, fds });

test('soak drift: the highest value of the last quarter after warm-up minus that of the first', () => {
  const samples = [
    sample(0, 50, 10), // warm-up: left out
    sample(10, 70, 20), // warm-up
    ...[80, 84, 81, 85, 82, 86, 83, 87].map((rss, i) => sample(100 + i * 100, rss, 25)),
  ];
  const drift = soakDrift(samples, 100);
  assert.equal(drift.rss.firstMiB, 84);
  assert.equal(drift.rss.lastMiB, 87);
  assert.equal(drift.rss.driftMiB, 3);
  assert.equal(drift.rss.minMiB, 80);
  assert.equal(drift.rss.maxMiB, 87);
  assert.equal(drift.fds.drift, 0);
  assert.ok(drift.rss.slopeMiBPer10kFiles > 0);
});

test('soak drift: a descriptor leak shows, and too few samples give no figure', () => {
  const leaking = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => sample(i * 100, 80, 20 + i));
  assert.equal(soakDrift(leaking, 0).fds.drift, 6);
  assert.ok(Number.isNaN(soakDrift([sample(100, 80, 20)], 0).rss.driftMiB));
});

test('the production command is read from the "worker" script', () => {
  const parsed = parseWorkerScript('node --max-semi-space-size=1 --max-old-space-size=48 dist/cli.js worker');
  assert.deepEqual(parsed.nodeArgs, ['--max-semi-space-size=1', '--max-old-space-size=48']);
  assert.equal(parsed.cliRelative, 'dist/cli.js');
  assert.throws(() => parseWorkerScript('npm start'), /not of the form/);
  assert.throws(() => parseWorkerScript('node dist/cli.js local'), /not of the form/);
});

/** A results file with only the start-up phase, as `--phases startup` writes it. */
function startupOnly(maxMs: number, idleRssMiB: number): BenchResults {
  return {
    schema: 2,
    startedAt: '',
    finishedAt: '',
    durationSeconds: 1,
    command: 'npm run bench -- --phases startup',
    machine: { cpuModel: 'cpu', cpus: 2, memoryGiB: 1, kernel: 'k', platform: 'linux', node: 'v24', clamav: 'ClamAV' },
    options: { ...FULL_OPTIONS, smoke: false },
    prices: {},
    sets: [],
    globalSet: 'small',
    startup: { runs: [], idleSeconds: 5, p50Ms: 300, maxMs, idleRssMiB },
    targets: [],
    errors: [],
    warnings: [],
  };
}

test('targets are judged from the figures, and a missed one says why', () => {
  const results = startupOnly(600, 60);
  assert.deepEqual(
    checkTargets(results).map((c) => [c.name, c.target, c.value, c.met]),
    [
      ['Start-up: spawn to first ReceiveMessage, slowest (ms)', '<= 500', 600, false],
      ['Memory: idle RSS after 5 s, median (MiB)', '<= 64', 60, true],
    ],
  );
  const why = whyMissed(results);
  assert.equal(why.length, 1);
  assert.match(why[0] ?? '', /^- \*\*Start-up: spawn to first ReceiveMessage, slowest \(ms\)\*\* \(small\): 600\.00, target ≤ 500\. \S/);
});

test('a results file is read back through its schema: NaN saved as null reads as NaN, a wrong shape is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  try {
    const path = join(dir, 'results.json');
    saveResults(path, startupOnly(Number.NaN, 60));
    assert.ok(Number.isNaN(readResults(path).startup?.maxMs));
    writeFileSync(path, JSON.stringify({ ...startupOnly(1, 1), sets: 'none' }));
    assert.throws(
      () => readResults(path),
      (error: Error) => error.message.startsWith(`${path}: not a results file:`) && error.message.includes('sets'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('requests on tags are billed by their verb: PutObjectTagging as a PUT, GetObjectTagging as a GET', () => {
  assert.equal(priceClass('S3.PutObjectTagging'), 's3-put');
  assert.equal(priceClass('S3.GetObjectTagging'), 's3-get');
  assert.equal(priceClass('S3.GetObject'), 's3-get');
  assert.equal(priceClass('S3.CopyObject'), 's3-put');
  assert.equal(priceClass('S3.DeleteObject'), 's3-free');
  assert.equal(priceClass('SQS.SendMessageBatch'), 'sqs');
});

test('per-file requests leave out per-start calls and empty receives, and price the tag write as a PUT', () => {
  const summary = summarizeRequests(
    {
      attempts: {
        'S3.GetObject': 100,
        'S3.PutObjectTagging': 100,
        'SQS.GetQueueAttributes': 1,
        'SQS.GetQueueUrl': 2,
        'SQS.ReceiveMessage': 12,
        'SQS.SendMessageBatch': 10,
        'SQS.DeleteMessageBatch': 10,
      },
      failed: {},
      emptyReceives: 2,
      receivedMessages: 100,
    },
    100,
  );
  assert.deepEqual(summary.perFile, {
    'S3.GetObject': 1,
    'S3.PutObjectTagging': 1,
    'SQS.ReceiveMessage': 0.1,
    'SQS.SendMessageBatch': 0.1,
    'SQS.DeleteMessageBatch': 0.1,
  });
  assert.equal(summary.billablePerFile, 2.3);
  // Per million files: a million GETs, a million tag PUTs, 300,000 SQS requests.
  assert.equal(summary.usdPerMillionFiles['s3-put'], PRICES.s3PutCopyPostListPer1000 * 1000);
  assert.equal(summary.usdPerMillionFiles['s3-get'], PRICES.s3GetAndOtherPer1000 * 1000);
  assert.equal(summary.usdPerMillionFiles.total, 5.52);
});
