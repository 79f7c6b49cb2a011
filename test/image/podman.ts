/**
 * Running the project's images with podman for the image test, through
 * scripts/podman.sh (the runtime, cgroup manager and containers.conf this
 * machine kind needs). Containers share the host's network and talk over
 * 127.0.0.1 only; every name carries a random suffix, since other test runs may
 * use podman on the same machine at the same time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PODMAN = process.env['BUCKETSCAN_PODMAN'] ?? join(root, 'scripts', 'podman.sh');
const run = promisify(execFile);

export const TAG = process.env['BUCKETSCAN_IMAGE_TAG'] ?? 'latest';
export const IMAGES = {
  worker: `localhost/bucketscan-worker:${TAG}`,
  clamd: `localhost/bucketscan-clamd:${TAG}`,
  emulator: `localhost/bucketscan-emulator:${TAG}`,
} as const;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman to completion; never throws for a non-zero exit (the caller checks `code`). */
export async function podman(args: string[], timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await run(PODMAN, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof failed.code !== 'number') throw new Error(`podman ${args.join(' ')}: ${failed.message}`);
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** podman, expecting success: the trimmed stdout, or an error carrying podman's output. */
export async function podmanOk(args: string[], timeoutMs?: number): Promise<string> {
  const result = await podman(args, timeoutMs);
  if (result.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout.trim();
}

export function uniqueName(what: string): string {
  return `bucketscan-test-${what}-${randomBytes(4).toString('hex')}`;
}

/** `-e NAME=value` for each entry. */
export function envArgs(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([name, value]) => ['-e', `${name}=${value}`]);
}

/**
 * A container run in the foreground of a child `podman run --rm` (so its output
 * is this process's to read, the child's exit code is the container's, and a
 * signal to the child reaches the container), on the host network. remove()
 * forces it away if it is still there.
 */
export interface Container {
  name: string;
  child: ChildProcess;
  /** Every line the container wrote to stdout and stderr, in order of arrival. */
  lines: string[];
  /** JSON lines (the worker's log), parsed. */
  json: Array<Record<string, unknown>>;
  exit: Promise<number | null>;
  remove(): Promise<void>;
}

export function startContainer(
  image: string,
  options: { name: string; env?: Record<string, string>; args?: string[]; command?: string[] },
): Container {
  const child = spawn(
    PODMAN,
    [
      'run',
      '--rm',
      '--name',
      options.name,
      '--network',
      'host',
      '--pull',
      'never',
      ...envArgs(options.env ?? {}),
      ...(options.args ?? []),
      image,
      ...(options.command ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const json: Array<Record<string, unknown>> = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffered = '';
    stream.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        if (!line.trim()) continue;
        lines.push(line);
        if (line.startsWith('{')) {
          try {
            json.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            // Not a log line of ours.
          }
        }
      }
    });
  }
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return {
    name: options.name,
    child,
    lines,
    json,
    exit,
    async remove() {
      await podman(['rm', '--force', '--time', '0', '--volumes', options.name]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    },
  };
}

/** The last lines a container wrote, for assertion messages. */
export function tail(container: Container, count = 30): string {
  return `\n--- last lines of ${container.name} ---\n${container.lines.slice(-count).join('\n')}`;
}

export async function inspect(target: string, format: string): Promise<string> {
  return podmanOk(['inspect', '--format', format, target]);
}

export async function imageSize(image: string): Promise<number> {
  return Number(await podmanOk(['image', 'inspect', '--format', '{{.Size}}', image]));
}

export async function isStandInBased(image: string): Promise<boolean> {
  return (await podmanOk(['image', 'inspect', '--format', '{{index .Labels "org.bucketscan.stand-in"}}', image])) === 'true';
}
