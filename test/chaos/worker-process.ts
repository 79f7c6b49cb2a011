/**
 * `bucketscan worker` as a separate process, under a tiny supervisor: it can be
 * SIGKILLed at any moment and is started again at once, and an exit nobody asked
 * for is counted (with the tail of stderr) and restarted after a second, as an
 * orchestrator would. Its JSON log lines are tallied and written to a file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TAIL = 60;

export interface Exit {
  incarnation: number;
  code: number | null;
  signal: string | null;
  /** Killed by the harness (SIGKILL chaos or the final SIGTERM), not on its own. */
  requested: boolean;
  stderrTail: string[];
  uptimeMs: number;
}

export interface WorkerStats {
  /** Processes started, the first one included. */
  started: number;
  /** SIGKILLs sent by the chaos schedule. */
  kills: number;
  /** Exits nobody asked for. */
  crashes: Exit[];
  /** The `outcome` field of every log line, tallied. */
  outcomes: Record<string, number>;
  /** Error and warning messages (the `msg` of level ≥ 40 lines), tallied. */
  problems: Record<string, number>;
  /** Milliseconds from spawn to "worker started", per incarnation that got there. */
  startupMs: number[];
}

export interface Supervisor {
  stats: WorkerStats;
  /** The last log lines, stdout and stderr, across incarnations. */
  tail(): string[];
  /** True while a worker process is running and has logged "worker started". */
  ready(): boolean;
  /** True while a worker process is running (started or not). */
  alive(): boolean;
  /** SIGKILL the current process, wait for it to go, start the next one. */
  kill(): Promise<void>;
  /** SIGTERM: the graceful stop. Resolves with how the last process ended. */
  stop(timeoutMs: number): Promise<Exit>;
}

export interface SupervisorOptions {
  env: Record<string, string>;
  /** Directory for worker.log (stdout) and worker.stderr.log. */
  runDir: string;
}

export function superviseWorker(options: SupervisorOptions): Supervisor {
  const stats: WorkerStats = { started: 0, kills: 0, crashes: [], outcomes: {}, problems: {}, startupMs: [] };
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
  };
  const stdoutLog: WriteStream = createWriteStream(join(options.runDir, 'worker.log'));
  const stderrLog: WriteStream = createWriteStream(join(options.runDir, 'worker.stderr.log'));

  let child: ChildProcess | undefined;
  let exited: Promise<Exit> | undefined;
  let isReady = false;
  let stopping = false;
  let pendingRestart: NodeJS.Timeout | undefined;
  const requested = new WeakSet<ChildProcess>();

  const launch = (): void => {
    const incarnation = ++stats.started;
    const startedAt = Date.now();
    isReady = false;
    const proc = spawn(process.execPath, [CLI, 'worker'], {
      env: { PATH: process.env['PATH'] ?? '', BUCKETSCAN_ENV_FILE: 'none', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const stderrTail: string[] = [];
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdoutLog.write(text);
      out += text;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        remember(`[${incarnation}] ${line}`);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (parsed['msg'] === 'worker started') {
          if (proc === child) isReady = true;
          stats.startupMs.push(Date.now() - startedAt);
        }
        const outcome = parsed['outcome'];
        if (typeof outcome === 'string') stats.outcomes[outcome] = (stats.outcomes[outcome] ?? 0) + 1;
        // pino writes the level as a number or, configured so, as its label.
        const level = parsed['level'];
        const serious = typeof level === 'number' ? level >= 40 : level === 'warn' || level === 'error' || level === 'fatal';
        if (serious && typeof parsed['msg'] === 'string') {
          // Per-record messages carry the key in a %s: tally by the fixed part.
          const msg = (parsed['msg'] as string).replace(/: .*$/, '');
          stats.problems[msg] = (stats.problems[msg] ?? 0) + 1;
        }
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderrLog.write(text);
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
        remember(`[${incarnation} stderr] ${line}`);
      }
    });
    exited = new Promise<Exit>((resolve) => {
      proc.once('exit', (code, signal) => {
        if (proc === child) isReady = false;
        const exit: Exit = { incarnation, code, signal, requested: requested.has(proc), stderrTail, uptimeMs: Date.now() - startedAt };
        if (!exit.requested) {
          stats.crashes.push(exit);
          remember(`[${incarnation}] exited on its own: code ${code}, signal ${signal}`);
          // As an orchestrator would: start a replacement after a moment.
          if (!stopping) pendingRestart = setTimeout(launch, 1_000);
        }
        resolve(exit);
      });
    });
  };

  launch();

  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  return {
    stats,
    tail: () => [...tail],
    ready: () => isReady,
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async kill() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      requested.add(proc);
      stats.kills += 1;
      remember(`[${stats.started}] SIGKILL`);
      proc.kill('SIGKILL');
      await exited;
      if (!stopping) launch();
    },
    async stop(timeoutMs) {
      stopping = true;
      if (pendingRestart) clearTimeout(pendingRestart);
      const proc = child!;
      let exit: Exit;
      if (proc.exitCode !== null || proc.signalCode !== null) {
        exit = await exited!;
      } else {
        requested.add(proc);
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        exit = await exited!;
        clearTimeout(timer);
      }
      process.off('exit', killOnExit);
      await Promise.all([stdoutLog, stderrLog].map((stream) => new Promise<void>((resolve) => stream.end(resolve))));
      return exit;
    },
  };
}
