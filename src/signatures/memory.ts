/**
 * The memory guard: how much a set grows clamd, and whether a clamd with it
 * would still fit in its memory while it reloads. Pure arithmetic on what
 * `bucketscan signatures check` measured (src/local/signature-check.ts).
 *
 * clamd reloads a changed database beside the one it is using
 * (ConcurrentDatabaseReload, on by default) and switches over when the new one
 * is ready, so for a moment it holds both: the old database resident, the new one
 * at its loading peak. That is the figure that must fit: the process without a
 * database, plus the loaded database, plus the new database's loading peak
 * (about twice the loaded size).
 */

export const MIB = 1024 * 1024;

/**
 * The official database's loaded size when it is not measured: about 1.2 GiB
 * (main, daily and bytecode, ClamAV 1.4; the deployment sizes clamd on the same
 * figure, deploy/lib/sizing.ts).
 */
export const OFFICIAL_DATABASE_ESTIMATE_MIB = 1229;

/** What one throw-away clamd measured, from /proc/<pid>/status, in bytes. */
export interface ClamdMemory {
  /** VmRSS once it answered PING: everything loaded. */
  resident: number;
  /** VmHWM: the most it held at any point, loading included. */
  peak: number;
}

export interface MemoryFigures {
  /** clamd without any database. */
  processBytes: number;
  /** What the set adds once loaded (the custom databases and the allow list, and the official database when it was loaded too). */
  setBytes: number;
  /** What the set adds at its loading peak. */
  setPeakBytes: number;
  /** The official database: measured with the set, or the estimate. */
  official: { bytes: number; measured: boolean };
  /** The whole database loaded: official plus set. */
  loadedBytes: number;
  /** During a reload: the process, the old database resident, the new one at its loading peak. */
  reloadPeakBytes: number;
}

/**
 * The figures from two measurements: a clamd with the set (and the official
 * database when `officialMeasured`), and one with nothing loaded.
 */
export function memoryFigures(withSet: ClamdMemory, empty: ClamdMemory, officialMeasured: boolean): MemoryFigures {
  const processBytes = empty.resident;
  const grown = Math.max(0, withSet.resident - empty.resident);
  const grownPeak = Math.max(grown, withSet.peak - empty.resident);
  const officialEstimate = OFFICIAL_DATABASE_ESTIMATE_MIB * MIB;
  // Measured together, the official share cannot be told apart; it is all "loaded".
  const official = officialMeasured ? { bytes: 0, measured: true } : { bytes: officialEstimate, measured: false };
  const loadedBytes = grown + official.bytes;
  // Without a measurement of the official database's loading peak, take its loaded size.
  const reloadPeakBytes = processBytes + loadedBytes + grownPeak + official.bytes;
  return { processBytes, setBytes: grown, setPeakBytes: grownPeak, official, loadedBytes, reloadPeakBytes };
}

export interface MemoryVerdict {
  ok: boolean;
  /** One line for people. */
  summary: string;
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(bytes < 10 * MIB ? 1 : 0)} MiB`;

/**
 * Whether a clamd with this database fits in `limitMiB` while it reloads, with
 * `reserveMiB` kept for its scans. Without a limit nothing is refused; the
 * figures are still reported.
 */
export function judgeMemory(figures: MemoryFigures, limitMiB: number | undefined, reserveMiB: number): MemoryVerdict {
  const official = figures.official.measured
    ? 'official database measured with it'
    : `official database estimated at ${mib(figures.official.bytes)}`;
  const described =
    `the set adds ${mib(figures.setBytes)} to clamd (${mib(figures.setPeakBytes)} while loading; ${official}); ` +
    `a reload would peak at about ${mib(figures.reloadPeakBytes)} (process ${mib(figures.processBytes)} + database ${mib(figures.loadedBytes)} twice)`;
  if (limitMiB === undefined) return { ok: true, summary: `${described}; no memory limit given (CLAMD_MEMORY_LIMIT_MB), nothing checked` };
  const needed = figures.reloadPeakBytes + reserveMiB * MIB;
  const limit = limitMiB * MIB;
  if (needed > limit) {
    return {
      ok: false,
      summary:
        `${described}, plus ${reserveMiB} MiB kept for scans: ${mib(needed)}, more than clamd's ${limitMiB} MiB. ` +
        'Publishing it would get clamd killed for memory on its next reload: remove signatures, or give clamd more memory first',
    };
  }
  return { ok: true, summary: `${described}, plus ${reserveMiB} MiB for scans: ${mib(needed)} of clamd's ${limitMiB} MiB` };
}
