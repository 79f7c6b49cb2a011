/**
 * The benchmark at tiny sizes (`bench/run.ts --smoke`), so that it cannot rot: it
 * must finish and produce every figure. Benchmarks are not tests, so nothing here
 * looks at how fast anything was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from '../../bench/results.ts';
import { renderDoc } from '../../bench/report.ts';

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
    }
    assert.ok(results.targets.length > 0);
    assert.ok(results.targets.every((target) => target.value !== null), JSON.stringify(results.targets));
    // The report renders from what was produced.
    assert.match(renderDoc(results, out), /\| Large: worker \/ bare clamd \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
