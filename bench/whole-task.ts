/**
 * The `whole-task` phase: what one Fargate task's vCPU scans when the worker and
 * clamd share it. Files of each size (100 KiB and 10 MiB by default) drain
 * through the production worker, which reaches the emulator through a
 * TLS-terminating relay (as it reaches AWS over https), against the signature
 * set of the run (the 100,000-signature set in the full run). The worker's and
 * clamd's CPU (user + system) together are the task's: files per vCPU-second is
 * files over that, and Fargate's price for a vCPU with its memory turns it into
 * a compute cost per million files. The emulator and the relay run on the same
 * cores but are AWS's machines in production: their CPU is left out.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { BenchClamd } from './clamd.ts';
import { benchKey, inParallel, MIB, randomBuffer, uploadObject } from './data.ts';
import { BENCH_RESOURCES } from './emulator.ts';
import { capture, drain, type Stack } from './phases.ts';
import { PRICES } from './prices.ts';
import { round } from './proc.ts';
import type { WholeTaskRow } from './results.ts';
import { startTlsProxy } from './tls-proxy.ts';

/** Fargate compute per vCPU-second, with the memory a task gets per vCPU (PRICES). */
export function usdPerVcpuSecond(): number {
  return (PRICES.fargateVcpuHour + PRICES.fargateGbHour * PRICES.fargateGbPerVcpu) / 3600;
}

export async function wholeTaskPhase(stack: Stack, clamd: BenchClamd, label: string): Promise<WholeTaskRow[]> {
  const { options, s3 } = stack;
  const rows: WholeTaskRow[] = [];
  for (const { kib, files } of options.wholeTask) {
    const bytes = kib * 1024;
    const snapshot = `whole-${kib}k-${label}`;
    stack.progress(`${label}: whole task, uploading ${files} x ${kib} KiB`);
    const body = randomBuffer(Math.min(bytes, 16 * MIB));
    await inParallel(files, bytes >= MIB ? 2 : 16, async (i) => {
      const key = benchKey(`whole-${kib}k-${i}.bin`);
      // Distinct bytes per file (clamd's cache is off, but be plain about it): the first 8 bytes carry the index.
      const first = Buffer.from(body.subarray(0, Math.min(bytes, 64 * 1024)));
      first.writeUInt32BE(i, 0);
      if (bytes <= 8 * MIB) {
        const data = bytes <= first.length ? first : Buffer.concat([first, body.subarray(first.length, bytes)]);
        await s3.send(new PutObjectCommand({ Bucket: BENCH_RESOURCES.unprocessedBucket, Key: key, Body: data }));
      } else {
        await uploadObject(s3, BENCH_RESOURCES.unprocessedBucket, key, bytes, (offset, length) =>
          offset === 0 ? Buffer.concat([first, body.subarray(first.length, length)]) : randomBuffer(length),
        );
      }
    });
    await capture(stack, snapshot, files);
    const tls = await startTlsProxy(stack.emulator.endpoint, stack.runDir);
    try {
      stack.progress(`${label}: whole task, ${files} x ${kib} KiB through TLS at the default CONCURRENCY`);
      const result = await drain(stack, clamd, {
        snapshot,
        proxy: null,
        endpoint: tls.endpoint,
        env: { NODE_EXTRA_CA_CERTS: tls.caFile },
        bytes: files * bytes,
        label: `${label}-whole-${kib}k`,
        expect: 'clean',
      });
      const { startRssMiB: _start, ...run } = result;
      const taskCpuSeconds = (run.cpuSeconds['worker'] ?? NaN) + (run.cpuSeconds['clamd'] ?? NaN);
      const filesPerVcpuSecond = files / taskCpuSeconds;
      rows.push({
        fileKiB: kib,
        files,
        drain: run,
        taskCpuSeconds: round(taskCpuSeconds, 2),
        filesPerVcpuSecond: round(filesPerVcpuSecond, 2),
        mbPerVcpuSecond: round((files * bytes) / 1e6 / taskCpuSeconds, 2),
        usdPerMillionFiles: round((1e6 / filesPerVcpuSecond) * usdPerVcpuSecond(), 4),
      });
      stack.progress(`${label}: whole task, ${kib} KiB: ${round(filesPerVcpuSecond, 1)} files per vCPU-second`);
    } finally {
      await tls.stop();
    }
  }
  return rows;
}
