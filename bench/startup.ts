/**
 * Start-up and idle memory (issue 7, part 1). The production command is started
 * several times in a row against an empty queue, with clamd already answering so
 * that no time goes to waiting for it, and its AWS requests passing through the
 * latency proxy with no delay, which notes when each arrives. Start-up is the
 * time from spawning the process to its first ReceiveMessage reaching the proxy
 * (the first AWS request it makes: the benchmark gives it queue URLs, so it looks
 * none up). The worker then waits on the empty queue for `idleSeconds`, and its
 * resident set, descriptors and child processes (there must be none: one
 * process) are read, and for the first run where that resident set lies
 * (/proc/<pid>/smaps: the node binary's code, anonymous memory, libraries).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchClamd } from './clamd.ts';
import { startLatencyProxy } from './network.ts';
import { purge, startWorker, type Stack } from './phases.ts';
import { childrenOf, memoryMapOf, memoryOf, openFdsOf, percentile, round, type MemoryMap } from './proc.ts';
import { takeHeapSnapshot } from './heap-snapshot.ts';
import type { HeapSnapshotSummary, StartupResult } from './results.ts';

export async function startupPhase(stack: Stack, clamd: BenchClamd): Promise<StartupResult> {
  const { options } = stack;
  const runs: StartupResult['runs'] = [];
  let memoryMap: MemoryMap | undefined;
  let heapSnapshot: HeapSnapshotSummary | undefined;
  await purge(stack, 'inbound');
  for (let run = 0; run < options.startupRuns; run++) {
    let firstReceive: (at: number) => void = () => undefined;
    const received = new Promise<number>((resolveReceive) => (firstReceive = resolveReceive));
    const proxy = await startLatencyProxy(stack.emulator.endpoint, 0, (event) => {
      if (event.operation === 'ReceiveMessage') firstReceive(event.at);
    });
    try {
      const snapshot = options.heapSnapshot && run === 0;
      const worker = await startWorker(
        stack,
        clamd,
        {
          endpoint: proxy.endpoint,
          ...(snapshot ? { extraNodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${stack.runDir}`] } : {}),
        },
        `startup-${run + 1}`,
      );
      try {
        const at = await Promise.race([received, delay(30_000, -1)]);
        if (at < 0) throw new Error(`start-up run ${run + 1}: no ReceiveMessage within 30 s of "worker started"; logs in ${stack.runDir}`);
        await delay(options.idleSeconds * 1000);
        const memory = memoryOf(worker.pid);
        memoryMap ??= memoryMapOf(worker.pid);
        runs.push({
          toFirstReceiveMs: round(at - worker.spawnedAt, 1),
          toStartedMs: round(worker.startedAt - worker.spawnedAt, 1),
          idleRssMiB: round(memory?.rssMiB ?? NaN, 1),
          idlePeakRssMiB: round(memory?.peakRssMiB ?? NaN, 1),
          idleFds: openFdsOf(worker.pid) ?? NaN,
          children: childrenOf(worker.pid)?.length ?? NaN,
        });
        if (snapshot) {
          stack.progress('start-up: heap snapshot of the idle worker');
          heapSnapshot = await takeHeapSnapshot(worker.pid, stack.runDir);
        }
        const last = runs[runs.length - 1]!;
        stack.progress(
          `start-up ${run + 1}/${options.startupRuns}: first receive after ${last.toFirstReceiveMs} ms; idle RSS ${last.idleRssMiB} MiB`,
        );
      } finally {
        const exit = await worker.stop();
        if (exit.code !== 0) stack.errors.push(`start-up run ${run + 1}: worker exited with code ${exit.code} (signal ${exit.signal})`);
        if (Object.keys(worker.problems).length > 0)
          stack.errors.push(`start-up run ${run + 1}: worker warnings/errors ${JSON.stringify(worker.problems)}`);
      }
    } finally {
      await proxy.stop();
    }
  }
  const times = runs.map((run) => run.toFirstReceiveMs).sort((a, b) => a - b);
  const idle = runs.map((run) => run.idleRssMiB).sort((a, b) => a - b);
  if (runs.some((run) => run.children > 0))
    stack.errors.push(
      `start-up: the worker started child processes (${runs.map((run) => run.children).join(', ')}); production runs one process`,
    );
  return {
    runs,
    idleSeconds: options.idleSeconds,
    p50Ms: round(percentile(times, 50), 1),
    maxMs: round(times[times.length - 1] ?? NaN, 1),
    idleRssMiB: round(percentile(idle, 50), 1),
    ...(memoryMap ? { memoryMap } : {}),
    ...(heapSnapshot ? { heapSnapshot } : {}),
  };
}
