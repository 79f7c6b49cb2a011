/**
 * The clamd.conf bucketscan runs clamd with: the one text, and the constants its
 * limits are derived from, for both places that write it.
 *
 * - The local stack and the tests: `renderClamdConfig` (clamd-process.ts writes it
 *   for the clamd it starts as a child process).
 * - The clamd image, which has no Node: scripts/clamd-config.ts turns
 *   `clamdConfigText` and the constants below into the generated block of
 *   images/clamd/entrypoint.sh (bash placeholders in place of the values), and
 *   test/unit/clamd-config.test.ts fails when that block is stale or when the
 *   entrypoint's output differs from `renderClamdConfig` for the same settings.
 *
 * docs/clamd.md explains each limit and alert option.
 */
import type { ClamdAddress } from '../scan/clamd-client.ts';

/** clamd's size options top out at 4 GB. */
export const MAX_SIZE_OPTION = 0xffff_ffff;
/** libclamav cannot scan a single file of 2 GB or more; clamd clamps MaxFileSize to this. */
export const LIBCLAMAV_MAX_FILE_SIZE = 2_147_483_645;
/** Extracted content counts toward MaxScanSize, so an archive needs room beyond its own size. */
export const SCAN_SIZE_FACTOR = 4;
/**
 * How far MaxFileSize is kept above MaxScanSize. libclamav's zip extractor cuts a
 * member larger than MaxFileSize down to MaxFileSize and scans the rest of the
 * archive without any alert, AlertExceedsMax or not (seen with ClamAV 1.4.6; gzip,
 * bzip2, xz and tar do alert). With MaxFileSize above MaxScanSize, the cut-down
 * member alone is more than MaxScanSize allows, and that limit does alert. The
 * margin covers the extractor's write buffer (BUFSIZ, 8 KiB on glibc).
 */
export const FILE_SIZE_MARGIN = 64 * 1024;
/** Largest StreamMaxLength the derived limits can cover fully (MaxFileSize must be above it by the margin). */
export const MAX_STREAM_BYTES = LIBCLAMAV_MAX_FILE_SIZE - FILE_SIZE_MARGIN;
/** clamd's own defaults for nesting depth and member count. */
export const DEFAULT_MAX_RECURSION = 17;
export const DEFAULT_MAX_FILES = 10_000;
/** Below the client's default 120 s idle timeout (see the config comment). */
export const DEFAULT_MAX_SCAN_TIME_MS = 90_000;
/** clamd's own ReadTimeout, in seconds: the least the configuration gives. */
export const MIN_READ_TIMEOUT_S = 120;
/** How far ReadTimeout stays above MaxScanTime, in seconds: the verdict's write and a slow machine's slack. */
export const READ_TIMEOUT_MARGIN_S = 30;

/**
 * clamd's ReadTimeout for a MaxScanTime: clamd's default, or MaxScanTime and a
 * margin if that is longer. In a session (IDSESSION, which the worker keeps
 * open between scans) clamd waits at most ReadTimeout for the client, and a
 * scan under way counts as waiting: past it clamd answers "COMMAND READ TIMED
 * OUT" in place of the verdict, however long MaxScanTime allows.
 */
export function readTimeoutFor(maxScanTimeMs: number): number {
  return Math.max(MIN_READ_TIMEOUT_S, Math.ceil(maxScanTimeMs / 1000) + READ_TIMEOUT_MARGIN_S);
}
/** clamd's MaxThreads when none is given: clamd's own default. */
export const DEFAULT_MAX_THREADS = 10;

/** Plain-text database formats clamd loads from a database directory. */
export const SIGNATURE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.hdb',
  '.hsb',
  '.hdu',
  '.hsu',
  '.mdb',
  '.msb',
  '.mdu',
  '.msu',
  '.ndb',
  '.ndu',
  '.ldb',
  '.ldu',
  '.cdb',
  '.cat',
  '.crb',
  '.idb',
  '.ign',
  '.ign2',
  '.fp',
  '.sfp',
  '.pdb',
  '.gdb',
  '.wdb',
  '.ftm',
  '.yar',
  '.yara',
]);

/**
 * The libclamav limits that, with AlertExceedsMax, turn into a
 * Heuristics.Limits.Exceeded.<name> alert when a file hits them (docs/clamd.md).
 */
export interface ClamdScanLimits {
  /** MaxFileSize: largest file, or file inside a container, that is scanned at all. */
  maxFileSize: number;
  /** MaxScanSize: most data examined per stream, extracted content included. */
  maxScanSize: number;
  /** MaxFiles: most files taken out of one container. */
  maxFiles: number;
  /** MaxRecursion: deepest nesting of containers. */
  maxRecursion: number;
  /** MaxScanTime: longest scan of one stream, in milliseconds. */
  maxScanTimeMs: number;
}

/**
 * Who runs clamd, which decides who owns its lifetime and its log: a parent process
 * (the local stack, the tests), or a container's entrypoint (the clamd image).
 */
export type ClamdSupervisor = 'parent' | 'container';

export interface ClamdConfigSettings {
  address: ClamdAddress;
  databaseDir: string;
  temporaryDir: string;
  streamMaxBytes: number;
  maxThreads: number;
  /** Overrides of the limits scanLimitsFor(streamMaxBytes) derives. */
  limits?: Partial<ClamdScanLimits>;
  /** Default 'parent'. 'container' renders what the clamd image writes. */
  supervisor?: ClamdSupervisor;
  /** clamd's MaxQueue; the image sets maxQueueFor(maxThreads), a child process keeps clamd's default. */
  maxQueue?: number;
}

/**
 * The values of one clamd.conf as text: numbers already checked, or (for the
 * image's generated bash) the shell variables that will hold them.
 */
export interface ClamdConfigValues {
  supervisor: ClamdSupervisor;
  listen: { kind: 'tcp'; host: string; port: string } | { kind: 'socket'; path: string };
  databaseDir: string;
  temporaryDir: string;
  streamMaxLength: string;
  maxThreads: string;
  maxQueue?: string;
  maxScanSize: string;
  maxFileSize: string;
  maxRecursion: string;
  maxFiles: string;
  maxScanTimeMs: string;
  /** ReadTimeout in seconds: readTimeoutFor(MaxScanTime). */
  readTimeout: string;
}

/**
 * The scan limits the generated configuration uses for a given StreamMaxLength
 * (docs/clamd.md explains each value).
 */
export function scanLimitsFor(streamMaxBytes: number): ClamdScanLimits {
  checkSize('streamMaxBytes', streamMaxBytes, MAX_STREAM_BYTES);
  const maxScanSize = Math.min(streamMaxBytes * SCAN_SIZE_FACTOR, MAX_STREAM_BYTES);
  return {
    maxFileSize: maxScanSize + FILE_SIZE_MARGIN,
    maxScanSize,
    maxFiles: DEFAULT_MAX_FILES,
    maxRecursion: DEFAULT_MAX_RECURSION,
    maxScanTimeMs: DEFAULT_MAX_SCAN_TIME_MS,
  };
}

/** Connections clamd keeps waiting for a thread: twice MaxThreads (clamd's advice), at least its default 100. */
export function maxQueueFor(maxThreads: number): number {
  return Math.max(maxThreads * 2, 100);
}

function checkSize(name: string, value: number, max: number = MAX_SIZE_OPTION): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

/** clamd's STRING values end at the first blank, and a line break would start a new option. */
function configString(option: string, value: string): string {
  if (value.length === 0 || /[\s\0]/.test(value)) {
    throw new Error(`clamd cannot take ${option} ${JSON.stringify(value)}: it must be non-empty with no spaces or control characters`);
  }
  if (option === 'LocalSocket' && Buffer.byteLength(value) > 107) {
    throw new Error(`clamd socket path is longer than the 107 bytes a unix socket address holds: ${value}`);
  }
  return value;
}

/**
 * The clamd.conf for these settings, checked: a value clamd would misread, or
 * limits that would let a file pass unscanned without an alert, throw.
 */
export function renderClamdConfig(settings: ClamdConfigSettings): string {
  const { address, databaseDir, temporaryDir, streamMaxBytes, maxThreads, maxQueue } = settings;
  checkSize('streamMaxBytes', streamMaxBytes, MAX_STREAM_BYTES);
  if (!Number.isSafeInteger(maxThreads) || maxThreads < 1) {
    throw new RangeError(`maxThreads must be a positive integer, got ${maxThreads}`);
  }
  if (maxQueue !== undefined) checkSize('maxQueue', maxQueue);
  // Zero disables a limit in clamd, so every limit here must be at least 1.
  const { maxFileSize, maxScanSize, maxFiles, maxRecursion, maxScanTimeMs } = { ...scanLimitsFor(streamMaxBytes), ...settings.limits };
  checkSize('maxFileSize', maxFileSize, LIBCLAMAV_MAX_FILE_SIZE);
  checkSize('maxScanSize', maxScanSize);
  checkSize('maxFiles', maxFiles);
  checkSize('maxRecursion', maxRecursion);
  checkSize('maxScanTimeMs', maxScanTimeMs);
  if (maxFileSize < maxScanSize + FILE_SIZE_MARGIN) {
    throw new RangeError(
      `maxFileSize (${maxFileSize}) must be at least maxScanSize (${maxScanSize}) + ${FILE_SIZE_MARGIN}: ` +
        'clamd cuts zip members down to MaxFileSize without an alert, and only MaxScanSize then reports it',
    );
  }
  return clamdConfigText({
    supervisor: settings.supervisor ?? 'parent',
    listen:
      address.kind === 'tcp'
        ? { kind: 'tcp', host: configString('TCPAddr', address.host), port: String(address.port) }
        : { kind: 'socket', path: configString('LocalSocket', address.path) },
    databaseDir: configString('DatabaseDirectory', databaseDir),
    temporaryDir: configString('TemporaryDirectory', temporaryDir),
    streamMaxLength: String(streamMaxBytes),
    maxThreads: String(maxThreads),
    ...(maxQueue === undefined ? {} : { maxQueue: String(maxQueue) }),
    maxScanSize: String(maxScanSize),
    maxFileSize: String(maxFileSize),
    maxRecursion: String(maxRecursion),
    maxFiles: String(maxFiles),
    maxScanTimeMs: String(maxScanTimeMs),
    readTimeout: String(readTimeoutFor(maxScanTimeMs)),
  });
}

/**
 * The text of clamd.conf, unchecked: the one place its options and comments are
 * written. Each non-obvious line says why it is there.
 */
export function clamdConfigText(values: ClamdConfigValues): string {
  const { listen } = values;
  const header =
    values.supervisor === 'parent'
      ? [
          '# Generated by bucketscan (src/local/clamd-process.ts); rewritten on every start.',
          '',
          '# The parent process owns the lifetime and reads the log from stdout/stderr.',
          'Foreground yes',
          '# No User line: clamd then runs as whoever started it, which also works as root (CI containers).',
          '# The logger adds its own timestamps.',
          'LogTime no',
        ]
      : [
          '# Generated by clamd-entrypoint from the environment; rewritten on every start.',
          '# docs/containers.md lists the variables, docs/clamd.md explains the limits and alerts.',
          '',
          "# tini (PID 1) and the entrypoint own the lifetime; the log goes to the container's output.",
          'Foreground yes',
          'LogTime yes',
        ];
  const listening =
    listen.kind === 'tcp'
      ? [`TCPSocket ${listen.port}`, `TCPAddr ${listen.host}`]
      : [
          `LocalSocket ${listen.path}`,
          '# Only this user needs the socket.',
          'LocalSocketMode 600',
          '# A socket left by a killed instance would otherwise stop the next one from starting.',
          'FixStaleSocket yes',
        ];
  const queue =
    values.maxQueue === undefined
      ? []
      : [
          "# Connections waiting for a free thread: twice MaxThreads (clamd's advice), at least clamd's default 100.",
          `MaxQueue ${values.maxQueue}`,
        ];

  return [
    ...header,
    '# Log the size and hash of each detection, which is what one needs to chase a false positive.',
    'ExtendedDetectionInfo yes',
    '',
    ...listening,
    '',
    `DatabaseDirectory ${values.databaseDir}`,
    '# Unsigned signatures (the test signatures, CLAMD_EXTRA_SIGNATURES_DIR) load alongside the official databases.',
    'OfficialDatabaseOnly no',
    '# Every INSTREAM is spooled here as a file (up to StreamMaxLength), and archive members are',
    '# extracted here: keep it with this instance, not in a shared /tmp (docs/containers.md sizes it).',
    `TemporaryDirectory ${values.temporaryDir}`,
    '',
    '# Longest INSTREAM; clamd replies "INSTREAM size limit exceeded" and hangs up past it.',
    "# Keep it at least the worker's MAX_FILE_SIZE.",
    `StreamMaxLength ${values.streamMaxLength}`,
    `MaxThreads ${values.maxThreads}`,
    ...queue,
    '',
    '# Scan limits (docs/clamd.md). Sizes are in bytes so nothing depends on how clamd rounds "M".',
    '# Total data examined per stream, extracted archive members included (a 1 MB zip holding',
    `# a 1 MB file counts 2 MB), so ${SCAN_SIZE_FACTOR}x the stream leaves room for archives and documents.`,
    `MaxScanSize ${values.maxScanSize}`,
    '# Largest single file, or file inside an archive. Deliberately ABOVE MaxScanSize: clamd cuts a',
    '# zip member larger than this down to this size and says nothing (AlertExceedsMax or not); a',
    '# member that large is then over MaxScanSize, which does raise Heuristics.Limits.Exceeded.',
    `MaxFileSize ${values.maxFileSize}`,
    "# Nesting depth and member count (clamd's defaults unless overridden), explicit so they are visible.",
    `MaxRecursion ${values.maxRecursion}`,
    `MaxFiles ${values.maxFiles}`,
    "# Below the worker's default CLAMD_TIMEOUT (120 s), so a slow scan ends with clamd's own",
    '# answer (a limit alert) instead of a client timeout.',
    `MaxScanTime ${values.maxScanTimeMs}`,
    '# The worker keeps a session open (IDSESSION), where clamd waits at most ReadTimeout for it',
    '# and a scan under way counts as waiting: past it the answer is "COMMAND READ TIMED OUT", not',
    `# the verdict. So it stays above MaxScanTime (by ${READ_TIMEOUT_MARGIN_S} s), and is never below clamd's default ${MIN_READ_TIMEOUT_S} s.`,
    `ReadTimeout ${values.readTimeout}`,
    '# PCRE subsignatures are skipped on larger files; keep them for everything that is scanned.',
    `PCREMaxFileSize ${values.maxFileSize}`,
    '',
    '# Never silently clean. By default clamd reports "OK" for anything it could not fully',
    '# inspect: a file or archive past the limits above, or encrypted content. These turn those',
    '# into detections (Heuristics.Limits.Exceeded.*, Heuristics.Encrypted.*), which bucketscan',
    '# reports as UNSCANNABLE.',
    'AlertExceedsMax yes',
    'AlertEncrypted yes',
    'AlertEncryptedArchive yes',
    'AlertEncryptedDoc yes',
    '# When a file both matches a signature and hits a limit, report the signature (INFECTED).',
    'HeuristicScanPrecedence no',
    '# Not these: malformed executables and media are common among legitimate uploads and',
    '# alerting on them would quarantine them as malware.',
    'AlertBrokenExecutables no',
    'AlertBrokenMedia no',
    'AlertOLE2Macros no',
    '',
  ].join('\n');
}
