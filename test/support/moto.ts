// moto_server (Python moto) as a child process for the fidelity tests: unlike the
// fauxqs emulator it implements S3 versioning and S3 -> SQS bucket notifications
// itself, so the worker meets event documents it did not help to build.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../src/local/free-port.ts';
import { readConfig } from '../../src/config/config.ts';
import type { Logger } from '../../src/log/logger.ts';
import { runWorker } from '../../src/worker/service.ts';
import { REGION, startTestClamd } from './stack.ts';

export interface Moto {
  /** e.g. http://127.0.0.1:5123: one endpoint for S3 (path-style), SQS and SNS. */
  endpoint: string;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** How long moto may take to answer HTTP; a guard against hanging, not a speed check. */
  readyTimeoutMs?: number;
}

const HOST = '127.0.0.1';
const INSTALL_HINT = "install it with: pip install 'moto[server]' (it must put moto_server on PATH)";
const OUTPUT_TAIL_LINES = 40;
const PORT_ATTEMPTS = 3;
const STOP_GRACE_MS = 5_000;

/** moto_server on PATH, else in pyenv's shims (a shell that never ran pyenv init has them off PATH). */
export function findMotoServer(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = (env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const pyenvRoot = env['PYENV_ROOT'] || join(homedir(), '.pyenv');
  dirs.push(join(pyenvRoot, 'shims'));
  for (const dir of dirs) {
    const candidate = join(dir, 'moto_server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`moto_server was not found on PATH or in ${join(pyenvRoot, 'shims')}; ${INSTALL_HINT}`);
}

class MotoStartError extends Error {
  readonly output: string;
  constructor(message: string, output: string[]) {
    super(output.length > 0 ? `${message}\nmoto_server output (last ${output.length} lines):\n${output.join('\n')}` : message);
    this.name = 'MotoStartError';
    this.output = output.join('\n');
  }
}

/** Signals the whole process group: a pyenv shim is a shell that may leave python as its child. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

async function launch(command: string, port: number, readyTimeoutMs: number): Promise<Moto> {
  // detached: the child leads a new process group, so stop() reaches its children too.
  const child = spawn(command, ['-H', HOST, '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  // moto logs every request (on stderr): keep reading both pipes for as long as it
  // runs so a full pipe can never block it, and keep a tail to explain failures.
  const output: string[] = [];
  const remember = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > OUTPUT_TAIL_LINES) output.shift();
    }
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);

  const killOnExit = () => signalGroup(child, 'SIGKILL');
  process.on('exit', killOnExit);

  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  }).finally(() => process.off('exit', killOnExit));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.pid === undefined) return;
      // Even when the shim itself has gone, a child of it may still hold the port.
      signalGroup(child, 'SIGTERM');
      const grace = new AbortController();
      const stillRunning = await Promise.race([
        exited.then(() => false),
        delay(STOP_GRACE_MS, true, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      signalGroup(child, 'SIGKILL');
      if (stillRunning) await exited;
      child.stdout?.destroy();
      child.stderr?.destroy();
    })();
    return stopping;
  };

  const endpoint = `http://${HOST}:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (hasExited) {
      const exit = await exited;
      await stop();
      if (exit.error) throw new MotoStartError(`moto_server could not be started (${exit.error.message}); ${INSTALL_HINT}`, output);
      throw new MotoStartError(
        `moto_server exited before answering HTTP (code ${exit.code}, signal ${exit.signal}); if it is not installed, ${INSTALL_HINT}`,
        output,
      );
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status < 500) return { endpoint, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new MotoStartError(`moto_server did not answer HTTP on ${endpoint} within ${readyTimeoutMs} ms`, output);
    }
    await delay(50);
  }
}

/**
 * Starts a private moto_server on a free port of 127.0.0.1 and resolves once it
 * answers HTTP. Throws (never skips) when moto_server is missing: a fidelity run
 * without moto must fail. The caller owns the result and must stop() it.
 */
export async function startMoto(options: StartMotoOptions = {}): Promise<Moto> {
  const command = findMotoServer();
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(HOST);
    try {
      return await launch(command, port, readyTimeoutMs);
    } catch (error) {
      // Another process may take the port between picking and binding it.
      const lostPortRace = error instanceof MotoStartError && /address already in use/i.test(error.output);
      if (!lostPortRace || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/**
 * moto_server and a test clamd, started side by side, for a fidelity test file;
 * when either fails to start, the other is stopped and the failure thrown.
 */
export async function startMotoAndClamd(): Promise<{ moto: Moto; clamd: Awaited<ReturnType<typeof startTestClamd>> }> {
  const [moto, clamd] = await Promise.allSettled([startMoto(), startTestClamd()]);
  if (moto.status === 'fulfilled' && clamd.status === 'fulfilled') return { moto: moto.value, clamd: clamd.value };
  await Promise.all([moto.status === 'fulfilled' && moto.value.stop(), clamd.status === 'fulfilled' && clamd.value.stop()]);
  throw moto.status === 'rejected' ? moto.reason : (clamd as PromiseRejectedResult).reason;
}

/**
 * A worker on moto with a real clamd, in this process, with the settings every moto
 * test shares (region, endpoint, credentials, a short receive wait, clamd's address)
 * under `env`. Returns the function that stops it; a worker that fails is handed to
 * `onFailure` (the test's fail-fast).
 */
export async function startMotoWorker(options: {
  moto: Moto;
  clamd: Awaited<ReturnType<typeof startTestClamd>>;
  env: Record<string, string | undefined>;
  logger: Logger;
  onFailure: (error: unknown) => void;
}): Promise<() => Promise<void>> {
  const address = options.clamd.clamd.address;
  const config = await readConfig({
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: options.moto.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    RECEIVE_WAIT_TIME: '1',
    ...(address.kind === 'tcp' ? { CLAMD_HOST: address.host, CLAMD_PORT: String(address.port) } : { CLAMD_SOCKET: address.path }),
    ...options.env,
  });
  const controller = new AbortController();
  const done = runWorker(config, options.logger, controller.signal);
  done.catch(options.onFailure);
  return async () => {
    controller.abort();
    await done;
  };
}
