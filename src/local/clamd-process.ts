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
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.ts';
import { ClamdClient, type ClamdAddress } from '../scan/clamd-client.ts';
import { freePort } from './free-port.ts';
import { errorMessage } from '../shared/errors.ts';
import { retryUntil, sleep } from '../shared/time.ts';
import { DEFAULT_MAX_THREADS, renderClamdConfig, SIGNATURE_EXTENSIONS, type ClamdScanLimits } from './clamd-config.ts';

export type { ClamdScanLimits };

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
  /** Scan limits to use instead of those derived from streamMaxBytes (see scanLimitsFor in clamd-config.ts). */
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

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_SIGNATURES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'signatures');
const DEFAULT_OFFICIAL_DATABASE_DIR = '/var/lib/clamav';
const CLAMD_CANDIDATES = ['/usr/sbin/clamd', '/usr/local/sbin/clamd'];

const DEFAULT_READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 100;
const STOP_GRACE_MS = 10_000;
const OUTPUT_TAIL_LINES = 40;
/** An auto-picked port can be taken by someone else before clamd binds it. */
const PORT_ATTEMPTS = 3;

/** Signed databases as freshclam writes them. */
const OFFICIAL_EXTENSIONS = new Set(['.cvd', '.cld', '.cud']);

export const TEST_SIGNATURES_WARNING =
  'clamd has NO official ClamAV database, only the bucketscan test signatures: it detects the EICAR test file ' +
  'and the test marker and NOTHING ELSE. Run freshclam (or mount a database) before trusting any "clean" result.';

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
      const stillRunning = await Promise.race([exited.then(() => false), sleep(STOP_GRACE_MS, grace.signal).then(() => true)]);
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
