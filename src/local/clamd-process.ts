/**
 * Runs a private clamd for the local stack and the integration tests: a generated
 * config in a work directory, a database directory holding the project's test
 * signatures plus links to whatever official databases the machine has, and a
 * readiness check that waits for PONG rather than guessing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.ts';
import { ClamdClient, type ClamdAddress } from '../scan/clamd-client.ts';
import { freePort } from './free-port.ts';
import { errorMessage } from '../shared/errors.ts';
import { retryUntil } from '../shared/time.ts';

export interface StartClamdOptions {
  /** Generated config, database and temporary directories go here. */
  workDir: string;
  /** TCP port on 127.0.0.1; 0 or undefined picks a free one. Ignored with socketPath. */
  port?: number;
  /** Listen on this unix socket instead of TCP. */
  socketPath?: string;
  /** clamd's StreamMaxLength; the scan limits are derived from it. */
  streamMaxBytes: number;
  /** clamd's MaxThreads (concurrent scans). Default 10, clamd's own default. */
  maxThreads?: number;
  /** Scan limits to use instead of those derived from streamMaxBytes (see scanLimitsFor). */
  limits?: Partial<ClamdScanLimits>;
  /** Where freshclam keeps the official databases. Default /var/lib/clamav; null: load none. */
  officialDatabaseDir?: string | null;
  /** The project's test signatures. Default <repo>/test/fixtures/signatures. */
  signaturesDir?: string;
  logger: Logger;
  /** How long to wait for PONG. Default 120000: loading the official database is slow. */
  readyTimeoutMs?: number;
  /** The clamd executable. Default: the first of /usr/sbin/clamd, /usr/local/sbin/clamd, else "clamd" on PATH. */
  clamdPath?: string;
  /**
   * Lines appended to the generated configuration, for needs it does not cover
   * (the benchmark's `DisableCache yes`). Each is one `Option value` line.
   */
  extraConfig?: string[];
}

export interface ClamdProcess {
  address: ClamdAddress;
  configPath: string;
  databaseDir: string;
  /** True when no official database was found: only the test signatures are loaded. */
  testSignaturesOnly: boolean;
  /** A message for the caller to log loudly when testSignaturesOnly, else null. */
  warning: string | null;
  /** The signature files loaded: the test signatures' copies and the official databases' links. */
  databases: string[];
  pid: number;
  /** SIGTERM, wait for exit, SIGKILL if it has not exited after a deadline. Safe to call twice. */
  stop(): Promise<void>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

export interface ClamdConfigSettings {
  address: ClamdAddress;
  databaseDir: string;
  temporaryDir: string;
  streamMaxBytes: number;
  maxThreads: number;
  /** Overrides of the limits scanLimitsFor(streamMaxBytes) derives. */
  limits?: Partial<ClamdScanLimits>;
}

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

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_SIGNATURES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'signatures');
const DEFAULT_OFFICIAL_DATABASE_DIR = '/var/lib/clamav';
const CLAMD_CANDIDATES = ['/usr/sbin/clamd', '/usr/local/sbin/clamd'];

const DEFAULT_MAX_THREADS = 10;
const DEFAULT_READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 100;
const STOP_GRACE_MS = 10_000;
const OUTPUT_TAIL_LINES = 40;
/** An auto-picked port can be taken by someone else before clamd binds it. */
const PORT_ATTEMPTS = 3;

/** Signed databases as freshclam writes them. */
const OFFICIAL_EXTENSIONS = new Set(['.cvd', '.cld', '.cud']);
/** Plain-text database formats clamd loads from a database directory. */
const SIGNATURE_EXTENSIONS = new Set([
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

/** clamd's size options top out at 4 GB. */
const MAX_SIZE_OPTION = 0xffff_ffff;
/** libclamav cannot scan a single file of 2 GB or more; clamd clamps MaxFileSize to this. */
const LIBCLAMAV_MAX_FILE_SIZE = 2_147_483_645;
/** Extracted content counts toward MaxScanSize, so an archive needs room beyond its own size. */
const SCAN_SIZE_FACTOR = 4;
/**
 * How far MaxFileSize is kept above MaxScanSize. libclamav's zip extractor cuts a
 * member larger than MaxFileSize down to MaxFileSize and scans the rest of the
 * archive without any alert, AlertExceedsMax or not (seen with ClamAV 1.4.6; gzip,
 * bzip2, xz and tar do alert). With MaxFileSize above MaxScanSize, the cut-down
 * member alone is more than MaxScanSize allows, and that limit does alert. The
 * margin covers the extractor's write buffer (BUFSIZ, 8 KiB on glibc).
 */
const FILE_SIZE_MARGIN = 64 * 1024;
/** Largest StreamMaxLength the derived limits can cover fully (MaxFileSize must be above it by the margin). */
export const MAX_STREAM_BYTES = LIBCLAMAV_MAX_FILE_SIZE - FILE_SIZE_MARGIN;
/** clamd's own defaults for nesting depth and member count. */
const DEFAULT_MAX_RECURSION = 17;
const DEFAULT_MAX_FILES = 10_000;
/** Below the client's default 120 s idle timeout (see the config comment). */
const DEFAULT_MAX_SCAN_TIME_MS = 90_000;

export const TEST_SIGNATURES_WARNING =
  'clamd has NO official ClamAV database, only the bucketscan test signatures: it detects the EICAR test file ' +
  'and the test marker and NOTHING ELSE. Run freshclam (or mount a database) before trusting any "clean" result.';

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

function checkSize(name: string, value: number, max: number = MAX_SIZE_OPTION): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

/**
 * The clamd.conf for a private instance. Pure, so the choices can be read and
 * tested without a clamd; each non-obvious line says why it is there.
 */
export function renderClamdConfig(settings: ClamdConfigSettings): string {
  const { address, databaseDir, temporaryDir, streamMaxBytes, maxThreads } = settings;
  checkSize('streamMaxBytes', streamMaxBytes, MAX_STREAM_BYTES);
  if (!Number.isSafeInteger(maxThreads) || maxThreads < 1) {
    throw new RangeError(`maxThreads must be a positive integer, got ${maxThreads}`);
  }
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

  const listen =
    address.kind === 'tcp'
      ? [`TCPSocket ${address.port}`, `TCPAddr ${configString('TCPAddr', address.host)}`]
      : [
          `LocalSocket ${configString('LocalSocket', address.path)}`,
          '# Only this user needs the socket.',
          'LocalSocketMode 600',
          '# A socket left by a killed instance would otherwise stop the next one from starting.',
          'FixStaleSocket yes',
        ];

  return [
    '# Generated by bucketscan (src/local/clamd-process.ts); rewritten on every start.',
    '',
    '# The parent process owns the lifetime and reads the log from stdout/stderr.',
    'Foreground yes',
    '# No User line: clamd then runs as whoever started it, which also works as root (CI containers).',
    '# The logger adds its own timestamps.',
    'LogTime no',
    '# Log the size and hash of each detection, which is what one needs to chase a false positive.',
    'ExtendedDetectionInfo yes',
    '',
    ...listen,
    '',
    `DatabaseDirectory ${configString('DatabaseDirectory', databaseDir)}`,
    '# The test signatures are unsigned; they must load alongside the official databases.',
    'OfficialDatabaseOnly no',
    '# INSTREAM data is spooled to a temporary file; keep it with this instance, not in a shared /tmp.',
    `TemporaryDirectory ${configString('TemporaryDirectory', temporaryDir)}`,
    '',
    '# Longest INSTREAM; clamd replies "INSTREAM size limit exceeded" and hangs up past it.',
    `StreamMaxLength ${streamMaxBytes}`,
    `MaxThreads ${maxThreads}`,
    '',
    '# Scan limits (docs/clamd.md). Sizes are in bytes so nothing depends on how clamd rounds "M".',
    '# Total data examined per stream, extracted archive members included (a 1 MB zip holding',
    `# a 1 MB file counts 2 MB), so ${SCAN_SIZE_FACTOR}x the stream leaves room for archives and documents.`,
    `MaxScanSize ${maxScanSize}`,
    '# Largest single file, or file inside an archive. Deliberately ABOVE MaxScanSize: clamd cuts a',
    '# zip member larger than this down to this size and says nothing (AlertExceedsMax or not); a',
    '# member that large is then over MaxScanSize, which does raise Heuristics.Limits.Exceeded.',
    `MaxFileSize ${maxFileSize}`,
    "# Nesting depth and member count (clamd's defaults unless overridden), explicit so they are visible.",
    `MaxRecursion ${maxRecursion}`,
    `MaxFiles ${maxFiles}`,
    "# Below the client's default 120 s idle timeout, so a slow scan ends with clamd's own",
    '# answer (a limit alert) instead of a client timeout.',
    `MaxScanTime ${maxScanTimeMs}`,
    '# PCRE subsignatures are skipped on larger files; keep them for everything we accept.',
    `PCREMaxFileSize ${maxFileSize}`,
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

/**
 * Starts clamd and resolves once it answers PING. Rejects, with the tail of clamd's
 * output, if it exits first or is not ready within readyTimeoutMs (it is then
 * stopped). The caller owns the result and must stop() it.
 */
export async function startClamd(options: StartClamdOptions): Promise<ClamdProcess> {
  const logger = options.logger.child({ component: 'clamd' });
  const workDir = resolve(options.workDir);
  const databaseDir = join(workDir, 'database');
  const temporaryDir = join(workDir, 'tmp');
  const configPath = join(workDir, 'clamd.conf');
  const clamdPath = options.clamdPath ?? findClamd();

  const databases = await prepareDatabaseDir(
    databaseDir,
    options.signaturesDir,
    options.officialDatabaseDir === null ? null : (options.officialDatabaseDir ?? DEFAULT_OFFICIAL_DATABASE_DIR),
  );
  const extra = (options.extraConfig ?? []).map((line) => {
    if (!/^[A-Za-z]+ [^\r\n]+$/.test(line))
      throw new Error(`extra clamd configuration must be one "Option value" line, got ${JSON.stringify(line)}`);
    return line;
  });
  await mkdir(temporaryDir, { recursive: true });
  logger.debug({ databaseDir, testSignatures: databases.test, officialDatabases: databases.official }, 'clamd database prepared');
  const testSignaturesOnly = databases.official.length === 0;

  const choosePort = options.socketPath === undefined && !options.port;
  for (let attempt = 1; ; attempt++) {
    const address: ClamdAddress =
      options.socketPath !== undefined
        ? { kind: 'socket', path: resolve(options.socketPath) }
        : { kind: 'tcp', host: '127.0.0.1', port: options.port || (await freePort('127.0.0.1')) };
    await writeFile(
      configPath,
      renderClamdConfig({
        address,
        databaseDir,
        temporaryDir,
        streamMaxBytes: options.streamMaxBytes,
        maxThreads: options.maxThreads ?? DEFAULT_MAX_THREADS,
        ...(options.limits ? { limits: options.limits } : {}),
      }) + extra.map((line) => `${line}\n`).join(''),
    );
    try {
      const running = await launch(clamdPath, configPath, address, logger, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      return {
        ...running,
        address,
        configPath,
        databaseDir,
        testSignaturesOnly,
        warning: testSignaturesOnly ? TEST_SIGNATURES_WARNING : null,
        databases: [...databases.test, ...databases.official],
      };
    } catch (error) {
      const lostPortRace = error instanceof ClamdStartError && /cannot bind/i.test(error.output);
      if (!(choosePort && lostPortRace && attempt < PORT_ATTEMPTS)) throw error;
      logger.debug({ attempt }, 'the port picked for clamd was taken; trying another');
    }
  }
}

class ClamdStartError extends Error {
  readonly output: string;

  constructor(message: string, output: string[]) {
    const tail = output.length > 0 ? `\nclamd output (last ${output.length} lines):\n${output.join('\n')}` : '';
    super(message + tail);
    this.name = 'ClamdStartError';
    this.output = output.join('\n');
  }
}

type Running = Pick<ClamdProcess, 'pid' | 'stop' | 'exited'>;

async function launch(
  clamdPath: string,
  configPath: string,
  address: ClamdAddress,
  logger: Logger,
  readyTimeoutMs: number,
): Promise<Running> {
  const child = spawn(clamdPath, [`--config-file=${configPath}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const remember = (line: string) => {
    output.push(line);
    if (output.length > OUTPUT_TAIL_LINES) output.shift();
  };
  pipeLines(child.stdout, logger, remember);
  pipeLines(child.stderr, logger, remember);

  // A clamd outliving a crashed parent would hold its port and database for good.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const exited = new Promise<{ code: number | null; signal: string | null; spawnError?: Error }>((resolveExit) => {
    // 'close' rather than 'exit': it waits for clamd's output to be drained, so an
    // error explaining the exit is in `output` by the time anyone looks.
    child.once('close', (code, signal) => resolveExit({ code, signal }));
    // A failed spawn has no pid and may never close. (A failed kill of a live child
    // also emits 'error', but that child still closes later.)
    child.once('error', (error) => {
      if (child.pid === undefined) resolveExit({ code: null, signal: null, spawnError: error });
    });
  }).finally(() => process.off('exit', killOnExit));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill('SIGTERM');
      const grace = new AbortController();
      const stillRunning = await Promise.race([exited.then(() => false), delay(STOP_GRACE_MS, true, { signal: grace.signal })]);
      grace.abort();
      if (stillRunning) {
        logger.warn({ pid: child.pid }, `clamd ignored SIGTERM for ${STOP_GRACE_MS} ms; killing it`);
        child.kill('SIGKILL');
      }
      await exited;
    })();
    return stopping;
  };

  const readiness = await waitUntilReady(address, readyTimeoutMs, exited);
  if (readiness.kind === 'exited') {
    const { code, signal, spawnError } = readiness.exit;
    if (spawnError) {
      throw new ClamdStartError(
        `could not run clamd (${clamdPath}): ${spawnError.message}; install ClamAV's daemon (Debian/Ubuntu: apt-get install clamav-daemon)`,
        output,
      );
    }
    throw new ClamdStartError(`clamd exited before answering PING (code ${code}, signal ${signal})`, output);
  }
  if (readiness.kind === 'timeout') {
    await stop();
    throw new ClamdStartError(`clamd did not answer PING within ${readyTimeoutMs} ms (${readiness.lastError})`, output);
  }

  logger.debug({ pid: child.pid }, 'clamd is ready');
  return {
    // A process that got as far as answering PING has a pid.
    pid: child.pid ?? -1,
    stop,
    exited: exited.then(({ code, signal }) => ({ code, signal })),
  };
}

type Readiness =
  | { kind: 'ready' }
  | { kind: 'timeout'; lastError: string }
  | { kind: 'exited'; exit: { code: number | null; signal: string | null; spawnError?: Error } };

/** Polls PING until PONG, the child exits, or the deadline passes. */
async function waitUntilReady(
  address: ClamdAddress,
  readyTimeoutMs: number,
  exited: Promise<{ code: number | null; signal: string | null; spawnError?: Error }>,
): Promise<Readiness> {
  const childGone = new AbortController();
  let exit: { code: number | null; signal: string | null; spawnError?: Error } | undefined;
  void exited.then((result) => {
    exit = result;
    childGone.abort();
  });
  // clamd binds its socket before loading the database and answers nothing until the
  // load is done, so one PING may wait a while; a short idle limit keeps the loop
  // checking the deadline and the child.
  const client = new ClamdClient({ address, connectTimeoutMs: 1_000, idleTimeoutMs: 5_000 });
  const deadline = Date.now() + readyTimeoutMs;
  let lastError = 'no attempt made';
  try {
    const ready = await retryUntil((signal) => client.ping(signal).then(() => true), {
      signal: childGone.signal,
      delayMs: () => READY_POLL_MS,
      check: (error) => {
        lastError = errorMessage(error);
      },
      onRetry: () => {
        if (Date.now() >= deadline) throw new ReadyTimeout();
      },
    });
    if (ready) return { kind: 'ready' };
  } catch (error) {
    if (!(error instanceof ReadyTimeout)) throw error;
    return { kind: 'timeout', lastError };
  }
  return { kind: 'exited', exit: exit! };
}

class ReadyTimeout extends Error {}

/** Sends each line of clamd's output to the logger and to the tail kept for errors. */
function pipeLines(stream: Readable, logger: Logger, remember: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    remember(line);
    // clamd prefixes its own problems with "ERROR:"/"WARNING:", libclamav with "LibClamAV Error:"/"LibClamAV Warning:".
    if (/^(ERROR|WARNING):|^LibClamAV (Error|Warning):/.test(line)) logger.warn({ clamd: line }, 'clamd');
    else logger.debug({ clamd: line }, 'clamd');
  });
}

/**
 * A fresh database directory: copies of the test signatures and links to the
 * official databases. Links rather than copies, because the official files are
 * hundreds of MB and freshclam replaces them by name, which the links then follow.
 */
async function prepareDatabaseDir(
  databaseDir: string,
  signaturesDir: string | undefined,
  officialDir: string | null,
): Promise<{ test: string[]; official: string[] }> {
  await rm(databaseDir, { recursive: true, force: true });
  await mkdir(databaseDir, { recursive: true });

  // An explicitly given directory must exist; the default one is absent from
  // installs that do not ship the tests, which is fine when an official db is there.
  const testFiles = (await listFiles(signaturesDir ?? DEFAULT_SIGNATURES_DIR, signaturesDir === undefined)).filter((name) =>
    SIGNATURE_EXTENSIONS.has(extname(name).toLowerCase()),
  );
  for (const name of testFiles) await copyFile(join(signaturesDir ?? DEFAULT_SIGNATURES_DIR, name), join(databaseDir, name));

  const officialFiles =
    officialDir === null ? [] : (await listFiles(officialDir, true)).filter((name) => OFFICIAL_EXTENSIONS.has(extname(name).toLowerCase()));
  for (const name of officialFiles) await symlink(join(resolve(officialDir!), name), join(databaseDir, name));

  if (testFiles.length === 0 && officialFiles.length === 0) {
    throw new Error(
      `no signatures for clamd: no test signatures in ${signaturesDir ?? DEFAULT_SIGNATURES_DIR} and no official database in ${officialDir ?? '(none asked for)'}`,
    );
  }
  return { test: testFiles, official: officialFiles };
}

async function listFiles(dir: string, missingIsEmpty: boolean): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() || entry.isSymbolicLink())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (missingIsEmpty) return [];
    throw new Error(`signature directory ${dir} does not exist`, { cause: error });
  }
}

function findClamd(): string {
  return CLAMD_CANDIDATES.find((candidate) => existsSync(candidate)) ?? 'clamd';
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
