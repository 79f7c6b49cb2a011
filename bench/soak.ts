/**
 * The soak (issue 7): many small files through one worker with default settings
 * on the local emulator, no added latency, while its resident set and open file
 * descriptors are sampled every few seconds. A leak shows as a level that keeps
 * rising once the worker has warmed up.
 *
 * The driver uploads the files while the worker runs, a few at a time, and
 * pauses whenever the inbound queue holds more than a backlog: the upload rate
 * follows the worker's, the emulator never holds more than that many waiting
 * events, and the worker is never starved for long. The forwards are purged from
 * the validation queue as they pile up. Every file is a distinct object (the
 * emulator keeps them all in memory: 50,000 × 10 KiB is half a GiB).
 *
 * Drift. Garbage collection makes RSS a saw-tooth, so two single samples say
 * little. Samples taken before `warmup` of the files were done are left out; of
 * the rest, the highest value in their last quarter minus the highest in their
 * first quarter is the drift (for RSS and for descriptors alike). A least-squares
 * slope over all of them is given beside it, in MiB per 10,000 files.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { BenchClamd } from './clamd.ts';
import { benchKey, inParallel, randomBuffer } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { concurrencyOf, purge, startWorker, type Stack } from './phases.ts';
import { CpuMeter, memoryOf, openFdsOf, round } from './proc.ts';
import type { SoakResult, SoakSample } from './results.ts';

export function soakDrift(samples: SoakSample[], warmupFiles: number): Pick<SoakResult, 'rss' | 'fds'> {
  const after = samples.filter((sample) => sample.files >= warmupFiles);
  const quarter = Math.max(1, Math.floor(after.length / 4));
  const first = after.slice(0, quarter);
  const last = after.slice(-quarter);
  const max = (values: number[]) => (values.length === 0 ? NaN : Math.max(...values));
  const min = (values: number[]) => (values.length === 0 ? NaN : Math.min(...values));
  const rssOf = (list: SoakSample[]) => list.map((sample) => sample.rssMiB);
  const fdsOf = (list: SoakSample[]) => list.map((sample) => sample.fds);
  const enough = after.length >= 2;
  // Least squares of RSS against files done.
  const n = after.length;
  const meanX = after.reduce((sum, s) => sum + s.files, 0) / Math.max(1, n);
  const meanY = after.reduce((sum, s) => sum + s.rssMiB, 0) / Math.max(1, n);
  const sxx = after.reduce((sum, s) => sum + (s.files - meanX) ** 2, 0);
  const sxy = after.reduce((sum, s) => sum + (s.files - meanX) * (s.rssMiB - meanY), 0);
  const slope = sxx > 0 ? (sxy / sxx) * 10_000 : NaN;
  return {
    rss: {
      firstMiB: round(max(rssOf(first)), 1),
      lastMiB: round(max(rssOf(last)), 1),
      driftMiB: enough ? round(max(rssOf(last)) - max(rssOf(first)), 1) : NaN,
      minMiB: round(min(rssOf(after)), 1),
      maxMiB: round(max(rssOf(after)), 1),
      slopeMiBPer10kFiles: round(slope, 2),
    },
    fds: {
      first: max(fdsOf(first)),
      last: max(fdsOf(last)),
      drift: enough ? max(fdsOf(last)) - max(fdsOf(first)) : NaN,
      min: min(fdsOf(after)),
      max: max(fdsOf(after)),
    },
  };
}

export async function soakPhase(stack: Stack, clamd: BenchClamd): Promise<SoakResult> {
  const { options, emulator, s3 } = stack;
  const files = options.soakFiles;
  await purge(stack, 'inbound', 'validation');
  const deleted = emulator.call({ cmd: 'awaitDeleted', count: files });
  const worker = await startWorker(stack, clamd, {}, 'soak');
  const concurrency = concurrencyOf(worker);
  stack.progress(
    `soak: ${files} x ${options.soakKiB} KiB through one worker (CONCURRENCY=${concurrency}), sampled every ${options.soakSampleSeconds} s`,
  );
  const meter = new CpuMeter({ worker: worker.pid, clamd: clamd.pid, emulator: emulator.pid, bench: process.pid });
  const done = () => Object.values(worker.outcomes).reduce((sum, count) => sum + count, 0);
  const samples: SoakSample[] = [];
  const sample = () => {
    const memory = memoryOf(worker.pid);
    const fds = openFdsOf(worker.pid);
    if (memory && fds !== undefined) {
      samples.push({ t: round((performance.now() - worker.startedAt) / 1000, 2), files: done(), rssMiB: round(memory.rssMiB, 1), fds });
    }
  };
  sample();
  let reported = 0;
  const sampler = setInterval(() => {
    sample();
    // Forwards are not the point here; do not let 50,000 of them pile up in the emulator.
    void purge(stack, 'validation').catch(() => undefined);
    const share = Math.floor((done() / files) * 10);
    if (share > reported) {
      reported = share;
      const last = samples[samples.length - 1];
      stack.progress(`soak: ${done()} files, RSS ${last?.rssMiB} MiB, ${last?.fds} descriptors`);
    }
  }, options.soakSampleSeconds * 1000);

  let failure: unknown;
  let uploadsDone = false;
  const uploads = (async () => {
    let checkedAt = -Infinity;
    let ready = 0;
    const room = async () => {
      for (;;) {
        if (performance.now() - checkedAt > 200) {
          ready = (await emulator.depth('inbound')).ready;
          checkedAt = performance.now();
        }
        if (ready <= options.soakBacklog) return;
        await delay(100);
      }
    };
    await inParallel(files, options.soakUploaders, async (i) => {
      await room();
      const body = randomBuffer(options.soakKiB * 1024);
      await s3.send(new PutObjectCommand({ Bucket: BENCH_RESOURCES.unprocessedBucket, Key: benchKey(`soak-${i}.bin`), Body: body }));
    });
    uploadsDone = true;
  })().catch((error: unknown) => {
    failure = error;
  });

  // Generous: a stuck soak should fail, not hang the run.
  const timeoutMs = 300_000 + files * 50;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    deleted.then(() => false),
    uploads.then(() => (failure ? true : new Promise<boolean>(() => undefined))),
    new Promise<boolean>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const end = performance.now();
  clearInterval(sampler);
  sample();
  const cpuSeconds = meter.read();
  const peakRssMiB = round(memoryOf(worker.pid)?.peakRssMiB ?? NaN, 1);
  await uploads;
  if (!timedOut) await Promise.race([worker.outcomesReached(files), delay(10_000)]);
  const exit = await worker.stop();
  await purge(stack, 'inbound', 'validation');
  if (failure) throw new Error(`soak: uploads failed: ${(failure as Error)?.message ?? String(failure)}`);
  if (timedOut) {
    throw new Error(
      `soak: ${files} files not all handled within ${timeoutMs / 1000} s (uploads ${uploadsDone ? 'done' : 'not done'}); outcomes ${JSON.stringify(worker.outcomes)}; logs in ${stack.runDir}`,
    );
  }
  if ((worker.outcomes['clean'] ?? 0) !== files)
    stack.errors.push(`soak: expected ${files} "clean" outcomes, got ${JSON.stringify(worker.outcomes)}`);
  if (Object.keys(worker.problems).length > 0) stack.errors.push(`soak: worker warnings/errors ${JSON.stringify(worker.problems)}`);
  if (exit.code !== 0) stack.errors.push(`soak: worker exited with code ${exit.code} (signal ${exit.signal})`);

  const seconds = (end - worker.startedAt) / 1000;
  const warmupFiles = Math.ceil(files * options.soakWarmup);
  const drift = soakDrift(samples, warmupFiles);
  stack.progress(`soak: ${round(files / seconds, 1)} files/s; RSS drift ${drift.rss.driftMiB} MiB, descriptors drift ${drift.fds.drift}`);
  return {
    files,
    fileKiB: options.soakKiB,
    concurrency,
    seconds: round(seconds, 1),
    filesPerSecond: round(files / seconds, 1),
    warmupFiles,
    samples,
    ...drift,
    peakRssMiB,
    outcomes: { ...worker.outcomes },
    problems: { ...worker.problems },
    cpuSeconds,
  };
}
