/**
 * The benchmark at tiny sizes (`bench/run.ts --smoke`), so that it cannot rot: it
 * must finish and produce every figure. Benchmarks are not tests, so nothing here
 * looks at how fast anything was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from '../../bench/results.ts';
import { renderDoc } from '../../bench/report.ts';
import { BENCHMARK_ROWS } from '../../deploy/lib/cost.ts';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

function finite(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} is missing`);
  assert.ok(Number.isFinite(value as number) && (value as number) >= 0, `${what} is ${String(value)}`);
}

test('the benchmark smoke run produces every figure, for both signature sets', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-bench-smoke-'));
  const out = join(dir, 'results.json');
  try {
    const child = spawn(process.execPath, [RUN, '--smoke', '--signatures', 'both', '--signature-count', '500', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, output);

    const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    assert.deepEqual(results.errors, []);
    assert.deepEqual(
      results.sets.map((set) => set.signatures.name),
      ['small', 'large'],
    );
    for (const set of results.sets) {
      const at = (what: string) => `${set.signatures.name}: ${what}`;
      finite(set.large?.bare.mibPerSecond, at('bare clamd MiB/s'));
      finite(set.large?.worker.mibPerSecond, at('worker MiB/s'));
      finite(set.large?.ratio, at('large ratio'));
      finite(set.large?.floor?.rawTlsMsPerMiB, at('the plain socket floor through TLS'));
      finite(set.large?.floor?.decryptMsPerMiB, at('the TLS cipher alone'));
      finite(set.small?.worker.filesPerSecond, at('small files/s'));
      finite(set.small?.workerC1.filesPerSecond, at('small files/s at CONCURRENCY=1'));
      finite(set.small?.ceiling.filesPerSecond, at('ceiling files/s'));
      finite(set.small?.ratioVsC1, at('ratio vs CONCURRENCY=1'));
      finite(set.small?.ratioVsCeiling, at('ratio vs ceiling'));
      assert.equal(set.memory?.single.length, 2, at('one-object memory figures'));
      for (const single of set.memory?.single ?? []) finite(single.peakRssMiB, at(`peak RSS for ${single.objectMiB} MiB`));
      finite(set.memory?.concurrent?.peakRssMiB, at('peak RSS with objects at once'));
      finite(set.requests?.clean?.billablePerFile, at('requests per clean file'));
      finite(set.requests?.infected?.billablePerFile, at('requests per infected file'));
      finite(set.requests?.clean?.usdPerMillionFiles.total, at('cost per million clean files'));
      finite(set.requests?.infected?.usdPerMillionFiles.total, at('cost per million infected files'));
      assert.ok((set.requests?.clean?.perFile['S3.GetObject'] ?? 0) > 0, at('the clean count includes the GET'));
      finite(set.latency?.p50Ms, at('latency p50'));
      finite(set.latency?.p99Ms, at('latency p99'));
      finite(set.inFlight?.peakRssMiB, at('peak RSS with large objects in flight'));
      finite(set.network?.clamdMsPerFile, at('clamd time per latency-mode file'));
      assert.deepEqual(
        set.network?.delays.map((d) => d.delayMs),
        results.options.networkDelays,
        at('one latency-mode block per delay'),
      );
      for (const d of set.network?.delays ?? []) {
        const ms = (what: string) => at(`+${d.delayMs} ms ${what}`);
        finite(d.roundTripMs, ms('round trip'));
        finite(d.worker.filesPerSecond, ms('files/s, default settings'));
        finite(d.workerC1.filesPerSecond, ms('files/s, CONCURRENCY=1'));
        assert.equal(d.workerC1.concurrency, 1, ms('the baseline ran at CONCURRENCY=1'));
        finite(d.ceiling.filesPerSecond, ms('ceiling'));
        finite(d.worker.inWorkRoundTrips?.p50, ms('round trips in work'));
        assert.equal(d.worker.inWork?.records, d.worker.files, ms('a duration for every clean record'));
      }
    }
    // Measured once per run.
    assert.ok((results.startup?.runs.length ?? 0) >= 1, 'start-up runs');
    finite(results.startup?.maxMs, 'start-up, slowest');
    finite(results.startup?.idleRssMiB, 'idle RSS');
    assert.ok(
      results.startup?.runs.every((run) => run.children === 0),
      'the production command is one process',
    );
    assert.deepEqual(
      results.imports?.rows.map((row) => row.name),
      [
        'node',
        'pino',
        'zod',
        'node-http-handler',
        'client-s3',
        'client-sqs',
        'client-sns',
        'sdk',
        'sdk-built',
        'sdk-direct',
        'all',
        'bundle',
      ],
    );
    for (const row of results.imports?.rows ?? []) finite(row.rssMiB, `import cost of ${row.name}`);
    assert.deepEqual(
      results.sweep?.rows.map((row) => row.value),
      results.options.sweep?.values,
      'one sweep row per value',
    );
    for (const row of results.sweep?.rows ?? [])
      assert.equal(String(row.run.concurrency), row.value, `the sweep's CONCURRENCY=${row.value} reached the worker`);
    assert.equal(results.soak?.outcomes['clean'], results.options.soakFiles, 'every soak file clean');
    assert.ok((results.soak?.samples.length ?? 0) >= 2, 'soak samples');
    // Drifts may be negative (a level that fell), but must be numbers.
    assert.ok(Number.isFinite(results.soak?.rss.driftMiB), 'soak RSS drift');
    assert.ok(Number.isFinite(results.soak?.fds.drift), 'soak descriptor drift');
    // With the status tag on (moto, versioned bucket): the tag was written, and its requests counted.
    const tagged = results.requestsTagged;
    for (const [name, batch] of [
      ['untagged', tagged?.untagged],
      ['pretagged', tagged?.pretagged],
    ] as const) {
      const at = (what: string) => `requests-tagged ${name}: ${what}`;
      assert.equal(batch?.files, results.options.taggedFiles, at('files'));
      assert.equal(batch?.outcomes['clean'], batch?.files, at('every file clean'));
      assert.equal(batch?.statusTags['CLEAN'], batch?.files, at('every clean file logged its status tag'));
      assert.ok((batch?.verifiedVersions ?? 0) >= 1, at('tags read back'));
      assert.ok((batch?.requests.perFile['S3.PutObjectTagging'] ?? 0) >= 1, at('a PutObjectTagging per file'));
      assert.ok((batch?.requests.perFile['S3.GetObject'] ?? 0) >= 1, at('a GetObject per file'));
      finite(batch?.requests.billablePerFile, at('billable requests per clean file'));
      finite(batch?.requests.usdPerMillionFiles.total, at('cost per million clean files'));
    }
    assert.equal(tagged?.untagged.requests.perFile['S3.GetObjectTagging'], undefined, 'no tag read for files uploaded without tags');
    assert.ok((tagged?.pretagged.requests.perFile['S3.GetObjectTagging'] ?? 0) >= 1, 'a GetObjectTagging per file uploaded with a tag');
    // The backfill phase: a live upload's verdict with no backlog, behind one on the inbound queue, and beside one on RESCAN_QUEUE.
    assert.deepEqual(
      results.backfill?.runs.map((run) => [run.mode, run.timedOut]),
      [
        ['quiet', 0],
        ['shared', 0],
        ['lane', 0],
      ],
      'backfill: every live upload got its verdict in each run',
    );
    for (const run of results.backfill?.runs ?? []) finite(run.p99Ms, `backfill ${run.mode}: p99`);
    assert.ok((results.backfill?.runs[1]?.backlog ?? 0) > 0, 'backfill: a backlog on the inbound queue');
    assert.ok(results.targets.length > 0);
    assert.ok(
      results.targets.every((target) => target.value !== null),
      JSON.stringify(results.targets),
    );
    // Issue 15's figures: worker CPU per file and per MiB (plain and TLS), the bare client's CPU, the whole task, the profiles.
    finite(tagged?.untagged.workerCpuMsPerFile, 'worker CPU per clean file');
    finite(tagged?.untaggedTls?.workerCpuMsPerFile, 'worker CPU per clean file, TLS');
    // The yardstick beside them: the naive Python script on the same kind of batch, which tagged and forwarded every file.
    for (const [name, batch] of [
      ['naive', tagged?.naive],
      ['naive TLS', tagged?.naiveTls],
    ] as const) {
      finite(batch?.workerCpuMsPerFile, `${name}: CPU per clean file`);
      assert.ok((batch?.requests.perFile['S3.PutObjectTagging'] ?? 0) >= 1, `${name}: a PutObjectTagging per file`);
      assert.ok((batch?.requests.perFile['SQS.SendMessage'] ?? 0) >= 1, `${name}: a forward per file`);
    }
    for (const set of results.sets) {
      finite(set.large?.worker.cpuSeconds['worker'], `${set.signatures.name}: worker CPU, large objects`);
      finite(set.large?.workerTls?.cpuSeconds['worker'], `${set.signatures.name}: worker CPU, large objects through TLS`);
      finite(set.large?.bare.cpuSeconds['client'], `${set.signatures.name}: the bare client's own CPU`);
    }
    const whole = results.sets.find((set) => set.signatures.name === 'large')?.wholeTask ?? [];
    assert.deepEqual(
      whole.map((row) => row.fileKiB),
      results.options.wholeTask.map((size) => size.kib),
      'a whole-task row per size, for the large set',
    );
    for (const row of whole) {
      finite(row.filesPerVcpuSecond, `whole task ${row.fileKiB} KiB: files per vCPU-second`);
      finite(row.usdPerMillionFiles, `whole task ${row.fileKiB} KiB: compute cost per million files`);
    }
    assert.deepEqual(
      results.profile?.runs.map((run) => run.label),
      ['small-files', 'large-object'],
      'both profiled runs',
    );
    for (const run of results.profile?.runs ?? []) {
      assert.ok(run.busyMs > 0 && run.layers.length > 0, `profile ${run.label} has busy time by layer`);
      assert.ok(existsSync(run.output.cpuprofile) && existsSync(run.output.folded), `profile ${run.label}'s files are kept`);
    }
    // The report renders from what was produced.
    const doc = renderDoc(results, out);
    assert.match(doc, /\| Large: worker \/ bare clamd \|/);
    assert.match(doc, /\| Requests, status tag on \(moto, versioned bucket\): billable per clean file, uploaded untagged/);
    // The CPU batches ran in rounds (--tagged-runs), and the report judges their median.
    assert.equal(tagged?.cpuRounds?.length, results.options.taggedRuns, 'one CPU round per --tagged-runs');
    for (const [index, round] of (tagged?.cpuRounds ?? []).entries()) {
      for (const batch of ['untagged', 'untaggedTls', 'naive', 'naiveTls'] as const)
        finite(round[batch]?.msPerFile, `requests-tagged CPU round ${index + 1}: ${batch}`);
    }
    assert.ok(
      doc.includes(`| Worker CPU per clean 20 KiB file, status tag on, median of ${results.options.taggedRuns} rounds (ms) |`),
      'the per-file CPU row names its rounds',
    );
    // The machine's speed, from the naive yardstick of the same run, under "Last run".
    assert.match(
      doc,
      /^- Machine speed: the naive Python yardstick \(bench\/naive-worker\.py\) spent \d+\.\d+ ms of CPU per clean file here, where issue 15's machine spent 6\.9–9\.5: CPU figures in milliseconds run \d+\.\d–\d+\.\d times .*scaled by the yardstick, the worker's CPU per clean file would be \d+\.\d–\d+\.\d ms on that machine, \d+\.\d–\d+\.\d through TLS\.$/m,
    );
    assert.match(doc, /\| Backfill: behind \d+ rescan events on the inbound queue, p99 \(ms\) \|/);
    // The rows deploy/lib/cost.ts reads for docs/deploy.md's cost table.
    for (const label of Object.values(BENCHMARK_ROWS)) {
      const found = (line: string) =>
        typeof label === 'string'
          ? line.startsWith(`| ${label.split('CONCURRENCY=')[0]}`)
          : label.test(/^\| ([^|]*) \|/.exec(line)?.[1] ?? '');
      assert.ok(doc.split('\n').some(found), `the report has the row "${String(label)}"`);
    }
    for (const heading of [
      '## Missed targets',
      '`large`',
      '`memory`',
      '`small`',
      '`requests`',
      '`network`',
      '`whole-task`',
      '`imports`',
      '`startup`',
      '`sweep`',
      '`soak`',
      '`requests-tagged`',
      '`profile`',
      '`backfill`',
    ]) {
      assert.ok(doc.includes(heading), `the report has "${heading}"`);
    }
    if (results.profile) rmSync(dirname(results.profile.dir), { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
