/**
 * The production command, as the benchmark runs it: `npm run worker` in
 * package.json is the one place that says which Node flags the deployed worker
 * gets (the README's production command and the image's entrypoint are the same
 * command), so the benchmark reads it from there instead of keeping a copy that
 * could drift. It runs the compiled bundle, dist/cli.js, which is rebuilt first
 * when any source is newer than it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ProductionCommand {
  /** Node's own flags, e.g. ['--max-semi-space-size=2']. */
  nodeArgs: string[];
  /** Absolute path of the compiled CLI. */
  cli: string;
  /** As written in package.json. */
  text: string;
}

/** Parses `node [flags...] dist/cli.js worker` (the "worker" script of package.json). */
export function parseWorkerScript(script: string): Omit<ProductionCommand, 'text'> & { cliRelative: string } {
  const words = script.trim().split(/\s+/);
  const [node, ...rest] = words;
  const cliIndex = rest.findIndex((word) => !word.startsWith('-'));
  if (node !== 'node' || cliIndex < 0 || rest[cliIndex + 1] !== 'worker' || rest.length !== cliIndex + 2) {
    throw new Error(`package.json "worker" script is not of the form "node [flags] <cli.js> worker": ${script}`);
  }
  const cliRelative = rest[cliIndex]!;
  return { nodeArgs: rest.slice(0, cliIndex), cli: join(ROOT, cliRelative), cliRelative };
}

export function productionCommand(): ProductionCommand {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const script = pkg.scripts?.['worker'];
  if (!script) throw new Error('package.json has no "worker" script (the production command)');
  const { nodeArgs, cli } = parseWorkerScript(script);
  return { nodeArgs, cli, text: script };
}

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Runs `npm run build` (scripts/build.ts) when dist/ is missing or older than what it is built from. */
export function ensureBuilt(cli: string, progress: (message: string) => void): void {
  const inputs = [
    join(ROOT, 'src'),
    join(ROOT, 'scripts', 'build.ts'),
    join(ROOT, 'scripts', 'bundle-options.ts'),
    join(ROOT, 'package-lock.json'),
  ];
  const newestInput = Math.max(...inputs.filter((path) => existsSync(path)).map(newestMtime));
  if (existsSync(cli) && statSync(cli).mtimeMs >= newestInput) return;
  progress(existsSync(cli) ? `${cli} is older than its sources: npm run build` : `${cli} is missing: npm run build`);
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}

/**
 * The worker bundle as `npm run build` makes it, plus source maps, into `outdir`:
 * what profiled runs execute, so a profile can name the source (and the package)
 * of every frame. The maps are read only by the profile summary, never by Node.
 */
export async function buildWithSourceMaps(outdir: string): Promise<string> {
  const { build } = await import('esbuild');
  const { BUNDLE_OPTIONS } = await import('../scripts/bundle-options.ts');
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/cli.ts'],
    outdir,
    ...BUNDLE_OPTIONS,
    splitting: true,
    external: ['fauxqs'],
    sourcemap: 'linked',
  });
  return join(outdir, 'cli.js');
}
