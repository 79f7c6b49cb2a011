/**
 * Runs bench/naive-worker.py, the naive Python scanner issue 15 measured the
 * worker against, until it has handled `files` files, and returns its own CPU
 * time. The requests-tagged phase runs it on the same moto, files and proxy as
 * the worker (bench/tagged-requests.ts), so the two figures are side by side.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./naive-worker.py', import.meta.url));

const Answer = z.object({ files: z.number(), cpuSeconds: z.number(), warmCpuSeconds: z.number().nullable() });
export type NaiveAnswer = z.infer<typeof Answer>;

/** Its figures, once it exits having printed them; rejects with its error's last line, or after `timeoutMs` (it is killed then). */
export async function runNaiveWorker(options: {
  files: number;
  warmupFiles: number;
  env: Record<string, string>;
  timeoutMs: number;
}): Promise<NaiveAnswer> {
  let stdout: string;
  try {
    ({ stdout } = await run('python3', [SCRIPT, String(options.files), String(options.warmupFiles)], {
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    }));
  } catch (error) {
    // A traceback's last line names the error.
    const { stderr, message, killed } = error as { stderr?: string; message: string; killed?: boolean };
    if (killed) throw new Error(`the naive Python worker did not handle ${options.files} files within ${options.timeoutMs / 1000} s`);
    throw new Error(`the naive Python worker failed: ${stderr?.trim().split('\n').at(-1) || message}`);
  }
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = Answer.safeParse(last.startsWith('{') ? JSON.parse(last) : undefined);
  if (!parsed.success) throw new Error(`the naive Python worker printed no figures: ${JSON.stringify(last)}`);
  return parsed.data;
}
