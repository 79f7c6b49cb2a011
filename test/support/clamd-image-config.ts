// What the clamd image's entrypoint must print for its settings: renderClamdConfig
// for the image's address, paths and MaxQueue. Shared by test/unit/clamd-config.test.ts
// (the entrypoint run with bash on the host) and test/image (inside the image).
import { maxQueueFor, renderClamdConfig, type ClamdScanLimits } from '../../src/local/clamd-config.ts';

const MiB = 1024 * 1024;

export interface ClamdImageCase {
  /** The clamd container's variables. */
  env: Record<string, string>;
  streamMaxBytes: number;
  maxThreads: number;
  limits?: Partial<ClamdScanLimits>;
}

export const CLAMD_IMAGE_CASES: ClamdImageCase[] = [
  { env: {}, streamMaxBytes: 100 * MiB, maxThreads: 10 },
  { env: { CLAMD_STREAM_MAX_LENGTH_MB: '1000', CLAMD_MAX_THREADS: '64' }, streamMaxBytes: 1000 * MiB, maxThreads: 64 },
  { env: { CLAMD_STREAM_MAX_LENGTH_MB: '2047' }, streamMaxBytes: 2047 * MiB, maxThreads: 10 },
  // Decimals round down to whole bytes, as the worker's MAX_FILE_SIZE does (test/image checks that against loadConfig).
  { env: { CLAMD_STREAM_MAX_LENGTH_MB: '2.5' }, streamMaxBytes: 2.5 * MiB, maxThreads: 10 },
  { env: { CLAMD_STREAM_MAX_LENGTH_MB: '0.333333' }, streamMaxBytes: Math.floor(0.333333 * MiB), maxThreads: 10 },
  {
    env: {
      CLAMD_STREAM_MAX_LENGTH_MB: '20',
      CLAMD_MAX_SCAN_SIZE_MB: '50',
      CLAMD_MAX_FILE_SIZE_MB: '60',
      CLAMD_MAX_FILES: '500',
      CLAMD_MAX_RECURSION: '5',
      CLAMD_MAX_SCAN_TIME_MS: '30000',
    },
    streamMaxBytes: 20 * MiB,
    maxThreads: 10,
    limits: { maxScanSize: 50 * MiB, maxFileSize: 60 * MiB, maxFiles: 500, maxRecursion: 5, maxScanTimeMs: 30_000 },
  },
  // An explicit MaxScanSize moves the derived MaxFileSize with it.
  {
    env: { CLAMD_MAX_SCAN_SIZE_MB: '50' },
    streamMaxBytes: 100 * MiB,
    maxThreads: 10,
    limits: { maxScanSize: 50 * MiB, maxFileSize: 50 * MiB + 64 * 1024 },
  },
];

export function imageClamdConfig({ streamMaxBytes, maxThreads, limits }: Omit<ClamdImageCase, 'env'>): string {
  return renderClamdConfig({
    supervisor: 'container',
    address: { kind: 'tcp', host: '127.0.0.1', port: 3310 },
    databaseDir: '/var/lib/clamav',
    temporaryDir: '/var/spool/clamd',
    streamMaxBytes,
    maxThreads,
    maxQueue: maxQueueFor(maxThreads),
    ...(limits ? { limits } : {}),
  });
}
