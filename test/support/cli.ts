// Runs `bucketscan <command>` as a user would: a separate process (`node src/cli.ts`),
// settings from the environment only, its exit code, stdout and stderr.
// Asynchronous on purpose: the emulator the command talks to runs in the test's
// own process, and a spawnSync would block it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(root, 'src', 'cli.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

export function startCli(args: string[], env: Record<string, string>, timeoutMs = 120_000, cwd?: string): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    ...(cwd ? { cwd } : {}),
    env: { PATH: process.env['PATH'] ?? '', BUCKETSCAN_ENV_FILE: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // A guard against a hung command, not an assertion about speed.
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** `cwd`: the working directory (where .local/ is looked for); default this process's. */
export function runCli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return startCli(args, env, 120_000, cwd).done;
}

/** The settings a command needs against one emulator (or moto) endpoint. */
export function endpointEnv(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    UNPROCESSED_BUCKET_NAME: 'unprocessed',
    QUARANTINE_BUCKET_NAME: 'quarantine',
    VIRUS_SCANNING_QUEUE_NAME: 'virus-scanning',
    VALIDATION_QUEUE_NAME: 'validation',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...extra,
  };
}

/** Exactly one line on stderr, the project's form for a bad argument or setting. */
export function oneLine(result: CliResult): string {
  const lines = result.stderr.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${result.stderr}`);
  return lines[0]!;
}
