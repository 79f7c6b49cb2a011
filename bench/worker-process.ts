/**
 * `bucketscan worker` as a separate process, the way it runs in production: the
 * production command (`npm run worker`: `node <flags> dist/cli.js worker`, see
 * bench/production.ts) as exactly one process, no npm or launcher around it. The
 * benchmark starts a fresh one per phase (so its VmHWM is that phase's peak),
 * reads its JSON log lines for outcomes and per-record durations (its AWS
 * requests are counted by the proxy it is pointed at, harness/aws-proxy.ts).
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { memoryOf, type Memory } from './proc.ts';

/** Only these are passed on from the driver's environment; the rest is set explicitly. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'];

export interface WorkerProcessOptions {
  /** Settings (UNPROCESSED_BUCKET_NAME, CONCURRENCY, ...); no .env file is read. */
  env: Record<string, string>;
  /** The worker's stdout (JSON log lines) is appended here. */
  logFile: string;
  startTimeoutMs?: number;
  /** The production command's Node flags and compiled CLI (bench/production.ts), and a command to run it under (none: []). */
  command: { nodeArgs: string[]; cli: string; wrapper?: string[] };
}

export interface WorkerExit {
  code: number | null;
  signal: string | null;
}

export interface WorkerHandle {
  pid: number;
  /** performance.now() just before the process was spawned. */
  spawnedAt: number;
  /** performance.now() when its "worker started" line arrived: queues resolved, clamd answering. */
  startedAt: number;
  /** The fields of that line (concurrency, maxFileSizeBytes, ...): the settings in force. */
  started: Record<string, unknown>;
  /** durationMs of every record logged clean (start to forward accepted), in log order. */
  cleanDurationsMs: number[];
  /** verdictMs of the same records: start to verdict, the time each held a slot. */
  cleanVerdictsMs: number[];
  /** `outcome` fields of its log lines, tallied. */
  outcomes: Record<string, number>;
  /** The `statusTag` of its clean lines (the status tag written, SCAN_STATUS_TAG), tallied; "none" when not written or off. */
  statusTags: Record<string, number>;
  /** Messages of its warn/error lines other than per-file outcomes (infected files log at warn), tallied. */
  problems: Record<string, number>;
  /** Resolves when `count` outcomes in total have been logged. */
  outcomesReached(count: number): Promise<void>;
  memory(): Memory | undefined;
  /** SIGTERM, then wait for it to exit. */
  stop(): Promise<WorkerExit>;
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerHandle> {
  const env: Record<string, string> = { BUCKETSCAN_ENV_FILE: 'none' };
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, options.env);
  const spawnedAt = performance.now();
  const [program, ...args] = [
    ...(options.command.wrapper ?? []),
    process.execPath,
    ...options.command.nodeArgs,
    options.command.cli,
    'worker',
  ];
  const child = spawn(program!, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const stderrTail: string[] = [];
  const outcomes: Record<string, number> = {};
  const statusTags: Record<string, number> = {};
  const problems: Record<string, number> = {};
  const cleanDurationsMs: number[] = [];
  const cleanVerdictsMs: number[] = [];
  let startedFields: Record<string, unknown> = {};
  let total = 0;
  const outcomeWaiters: Array<{ count: number; done(): void }> = [];

  let markStarted: (at: number) => void = () => undefined;
  const started = new Promise<number>((resolveStarted) => {
    markStarted = resolveStarted;
  });

  let carry = '';
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk);
    const text = carry + chunk.toString('utf8');
    const lines = text.split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      if (
        !line.includes('"outcome"') &&
        !line.includes('worker started') &&
        !line.includes('"level":"error"') &&
        !line.includes('"level":"warn"')
      )
        continue;
      let parsed: { outcome?: unknown; msg?: unknown; level?: unknown; durationMs?: unknown; verdictMs?: unknown; statusTag?: unknown };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        continue;
      }
      if (typeof parsed.outcome === 'string') {
        outcomes[parsed.outcome] = (outcomes[parsed.outcome] ?? 0) + 1;
        if (parsed.outcome === 'clean' && typeof parsed.durationMs === 'number') cleanDurationsMs.push(parsed.durationMs);
        if (parsed.outcome === 'clean' && typeof parsed.verdictMs === 'number') cleanVerdictsMs.push(parsed.verdictMs);
        if (parsed.outcome === 'clean') {
          const tag = typeof parsed.statusTag === 'string' ? parsed.statusTag : 'none';
          statusTags[tag] = (statusTags[tag] ?? 0) + 1;
        }
        total += 1;
        for (let i = outcomeWaiters.length - 1; i >= 0; i--) {
          const waiter = outcomeWaiters[i];
          if (waiter && total >= waiter.count) {
            outcomeWaiters.splice(i, 1);
            waiter.done();
          }
        }
      } else if (parsed.msg === 'worker started') {
        startedFields = parsed as Record<string, unknown>;
        markStarted(performance.now());
      } else if (parsed.level === 'error' || parsed.level === 'warn') {
        const message = String(parsed.msg);
        problems[message] = (problems[message] ?? 0) + 1;
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderrTail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    stderrTail.splice(0, Math.max(0, stderrTail.length - 30));
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolveExit) => {
    child.once('close', (code, signal) => resolveExit({ code, signal }));
    // Not started at all (a --worker-wrapper that is not a program): no 'close' may follow.
    child.once('error', (error) => {
      stderrTail.push(`could not be started: ${error.message}`);
      resolveExit({ code: null, signal: null });
    });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    started.then((at) => ({ kind: 'started' as const, at })),
    exited.then((exit) => ({ kind: 'exited' as const, exit })),
    new Promise<{ kind: 'timeout' }>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout({ kind: 'timeout' }), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome.kind !== 'started') {
    child.kill('SIGKILL');
    await exited;
    process.off('exit', killOnExit);
    const why =
      outcome.kind === 'exited'
        ? `exited (code ${outcome.exit.code}, signal ${outcome.exit.signal})`
        : `did not start within ${timeoutMs} ms`;
    throw new Error(`the worker ${why}; stderr:\n${stderrTail.join('\n')}\nlog: ${options.logFile}`);
  }

  let stopping: Promise<WorkerExit> | undefined;
  return {
    pid: child.pid ?? -1,
    spawnedAt,
    startedAt: outcome.at,
    started: startedFields,
    cleanDurationsMs,
    cleanVerdictsMs,
    outcomes,
    statusTags,
    problems,
    outcomesReached(count) {
      if (total >= count) return Promise.resolve();
      return new Promise<void>((done) => outcomeWaiters.push({ count, done }));
    },
    memory: () => (child.pid === undefined ? undefined : memoryOf(child.pid)),
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
        const exit = await exited;
        clearTimeout(kill);
        process.off('exit', killOnExit);
        await new Promise<void>((resolveEnd) => log.end(() => resolveEnd()));
        return exit;
      })();
      return stopping;
    },
  };
}
