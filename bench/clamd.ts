/**
 * The benchmark's clamd: the local stack's (startClamd, renderClamdConfig) plus
 * `DisableCache yes`, and only the signature set asked for.
 *
 * clamd remembers the MD5 of every clean stream and answers a repeat from that
 * cache without scanning it. The benchmark scans the same bytes more than once
 * (bare clamd, then the worker; the small files at two concurrencies), so with the
 * cache on every repeat would measure an MD5 instead of a scan: a 64 MiB random
 * buffer that takes 10 s to scan against the large signature set comes back in
 * 0.3 s the second time. Real uploads are almost all distinct, so the
 * cache-off figures are the ones that apply to them.
 */
import { startClamd, type ClamdScanLimits } from '../src/local/clamd-process.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { ClamdAddress } from '../src/scan/clamd-client.ts';

export interface BenchClamdOptions {
  workDir: string;
  /** Plain-text signature files to load. */
  signaturesDir: string;
  /** Load the official databases (.cvd/.cld/.cud) found here as well; none otherwise. */
  officialDir?: string;
  streamMaxBytes: number;
  maxThreads: number;
  limits?: Partial<ClamdScanLimits>;
  readyTimeoutMs?: number;
}

export interface BenchClamd {
  address: ClamdAddress;
  pid: number;
  /** From spawn to the first PONG: mostly the database load. */
  loadMs: number;
  /** Signature files in the database directory. */
  databases: string[];
  stop(): Promise<void>;
}

export async function startBenchClamd(options: BenchClamdOptions): Promise<BenchClamd> {
  const started = performance.now();
  const clamd = await startClamd({
    workDir: options.workDir,
    signaturesDir: options.signaturesDir,
    officialDatabaseDir: options.officialDir ?? null,
    streamMaxBytes: options.streamMaxBytes,
    maxThreads: options.maxThreads,
    ...(options.limits ? { limits: options.limits } : {}),
    readyTimeoutMs: options.readyTimeoutMs ?? 600_000,
    extraConfig: ['DisableCache yes'],
    logger: silentLogger(),
  });
  return {
    address: clamd.address,
    pid: clamd.pid,
    loadMs: performance.now() - started,
    databases: clamd.databases,
    stop: () => clamd.stop(),
  };
}
