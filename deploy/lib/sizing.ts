/**
 * Task sizing for a bucketscan worker + clamd task on Fargate, as pure functions
 * so that the numbers can be read, tested and written into the CloudFormation
 * template's mappings from one place.
 */

const MIB = 1024 * 1024;

/** The largest MAX_FILE_SIZE the worker accepts (MB): the most clamd scans in full. */
export const MAX_FILE_SIZE_LIMIT_MB = 2047;

/**
 * clamd's limits derived from StreamMaxLength S, as src/local/clamd-process.ts
 * (scanLimitsFor) and docs/clamd.md set them: MaxScanSize = 4 S (at most
 * 2147418109 bytes) and MaxFileSize = MaxScanSize + 64 KiB.
 */
const SCAN_SIZE_FACTOR = 4;
const LIBCLAMAV_MAX_SCAN_BYTES = 2_147_418_109;
const FILE_SIZE_MARGIN_BYTES = 64 * 1024;

/**
 * Worst-case temporary disk of one concurrent scan, in MiB: clamd spools the
 * whole INSTREAM (S) and extracts archive members into its TemporaryDirectory
 * (up to MaxScanSize in total, and one member up to MaxFileSize): docs/clamd.md,
 * "Temporary disk".
 */
export function spoolMiBPerScan(maxFileSizeMb: number): number {
  const stream = maxFileSizeMb * MIB;
  const maxScan = Math.min(stream * SCAN_SIZE_FACTOR, LIBCLAMAV_MAX_SCAN_BYTES);
  const maxFile = maxScan + FILE_SIZE_MARGIN_BYTES;
  return Math.ceil((stream + maxScan + maxFile) / MIB);
}

/**
 * Fargate counts the container images' layers against the task's ephemeral
 * storage too. Fixed part: the two images (about 1 GiB together, 2 allowed), the
 * ClamAV database (about 0.4 GiB of .cvd files, twice while freshclam replaces
 * them), and 1 GiB of margin.
 */
const FIXED_STORAGE_GIB = 2 + 1 + 1;
/** Fargate's range for a configured ephemeral storage size. */
export const MIN_EPHEMERAL_GIB = 21;
export const MAX_EPHEMERAL_GIB = 200;

export function ephemeralStorageGiB(maxFileSizeMb: number, concurrency: number): number {
  const scratchGiB = (spoolMiBPerScan(maxFileSizeMb) * concurrency) / 1024;
  const size = Math.max(MIN_EPHEMERAL_GIB, Math.ceil(scratchGiB + FIXED_STORAGE_GIB));
  if (size > MAX_EPHEMERAL_GIB) {
    throw new RangeError(
      `MAX_FILE_SIZE ${maxFileSizeMb} MB x CONCURRENCY ${concurrency} needs ${size} GiB of ephemeral storage, ` +
        `more than Fargate's ${MAX_EPHEMERAL_GIB} GiB: lower one of them`,
    );
  }
  return size;
}

/**
 * clamd memory. The full official database takes about 1.2 GiB loaded; during a
 * reload clamd (ConcurrentDatabaseReload, its default) holds the old and the new
 * engine at once, about 2.4 GiB. Each concurrent scan adds its own buffers and
 * decompression state; 128 MiB per scan is an allowance, not a measurement.
 */
export const CLAMD_RELOAD_MIB = 2560;
export const CLAMD_PER_SCAN_MIB = 128;
/**
 * The worker's hard limit. The benchmark measured a peak RSS of about 130 MiB
 * (docs/benchmarks.md), independent of object size; 512 MiB leaves room and keeps
 * a runaway worker from starving clamd.
 */
export const WORKER_MEMORY_MIB = 512;

export function clamdMemoryMiB(concurrency: number): number {
  return CLAMD_RELOAD_MIB + CLAMD_PER_SCAN_MIB * concurrency;
}

export interface TaskSize {
  /** Fargate task CPU units (1024 = 1 vCPU). */
  cpu: number;
  /** Fargate task memory (MiB). */
  memoryMiB: number;
  /** Memory reserved for clamd (a soft limit: a reload may use more while the worker does not). */
  clamdMemoryMiB: number;
  /** Ephemeral storage (GiB). */
  ephemeralStorageGiB: number;
}

/**
 * CPU: clamd is CPU-bound while it scans (docs/benchmarks.md: the worker itself
 * uses about 2 ms of CPU per MiB), so one vCPU per four concurrent scans. Memory:
 * clamd + worker, rounded up to the next size Fargate offers for that CPU.
 */
export function taskSize(maxFileSizeMb: number, concurrency: number): TaskSize {
  checkInteger('MAX_FILE_SIZE', maxFileSizeMb, 1, MAX_FILE_SIZE_LIMIT_MB);
  checkInteger('CONCURRENCY', concurrency, 1, 64);
  const cpu = concurrency <= 4 ? 1024 : concurrency <= 8 ? 2048 : 4096;
  const clamd = clamdMemoryMiB(concurrency);
  const needed = clamd + WORKER_MEMORY_MIB + 256; // 256 MiB for the Fargate agent and margin
  const memoryMiB = fargateMemory(cpu, needed);
  return { cpu, memoryMiB, clamdMemoryMiB: clamd, ephemeralStorageGiB: ephemeralStorageGiB(maxFileSizeMb, concurrency) };
}

/** Fargate's memory sizes (MiB) for 1, 2 and 4 vCPU, in 1 GiB steps. */
const FARGATE_MEMORY: Record<number, [number, number]> = {
  1024: [2048, 8192],
  2048: [4096, 16384],
  4096: [8192, 30720],
};

function fargateMemory(cpu: number, neededMiB: number): number {
  const range = FARGATE_MEMORY[cpu];
  if (!range) throw new RangeError(`no Fargate memory sizes known for ${cpu} CPU units`);
  const size = Math.max(range[0], Math.ceil(neededMiB / 1024) * 1024);
  if (size > range[1]) throw new RangeError(`${neededMiB} MiB is more than Fargate offers with ${cpu} CPU units`);
  return size;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** The values the CloudFormation template offers for MaxFileSize and Concurrency (its mappings are computed from them). */
export const TEMPLATE_MAX_FILE_SIZES = [10, 25, 50, 100, 250, 500, 1000, 2047];
export const TEMPLATE_CONCURRENCIES = [1, 2, 4, 8, 16];
