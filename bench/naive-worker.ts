/**
 * Runs bench/naive-worker.py, the naive Python scanner issue 15 measured the
 * worker against, until it has handled `files` files, and returns its own CPU
 * time. The requests-tagged phase runs it on the same moto, files and proxy as
 * the worker (bench/tagged-requests.ts), so the two figures are side by side.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const SCRIPT = fileURLToPath(new URL('./naive-worker.py', import.meta.url));

const Answer = z.object({ files: z.number(), cpuSeconds: z.number(), warmCpuSeconds: z.number().nullable() });
export type NaiveAnswer = z.infer<typeof Answer>;

function parseJson(line: string | undefined): unknown {
  try {
    return line === undefined ? undefined : JSON.parse(line);
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the script's figures once it exits having printed them; rejects
 * with its stderr if it fails, or after `timeoutMs` (it is killed then).
 */
export function runNaiveWorker(options: {
  files: number;
  warmupFiles: number;
  env: Record<string, string>;
  timeoutMs: number;
}): Promise<NaiveAnswer> {
  const child = spawn('python3', [SCRIPT, String(options.files), String(options.warmupFiles)], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the naive Python worker did not handle ${options.files} files within ${options.timeoutMs / 1000} s`));
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`the naive Python worker could not start: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const parsed = code === 0 ? Answer.safeParse(parseJson(lines.at(-1))) : undefined;
      if (parsed?.success) resolve(parsed.data);
      // A traceback's last line names the error.
      else reject(new Error(`the naive Python worker exited with code ${code}: ${stderr.trim().split('\n').at(-1) || lines.join(' | ')}`));
    });
  });
}
