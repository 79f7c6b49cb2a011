/**
 * `npm run build`: compiles the worker into dist/ as a few ES modules, with its
 * dependencies (AWS SDK, pino, zod) bundled in.
 *
 * Why a bundler rather than tsc: the worker imports about a thousand files from
 * node_modules, and Node keeps a module record, source and bytecode for each. One
 * bundle starts faster and is resident in less memory (docs/benchmarks.md has the
 * figures), and the image needs no node_modules at all. tsc still type-checks
 * (`npm run typecheck`); esbuild only strips types, as Node does for the sources.
 *
 * The local stack (`bucketscan local`) is a lazily loaded chunk, and its emulator
 * (fauxqs, a development dependency) stays external: production never loads it.
 */
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from './bundle-options.ts';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const outdir = join(root, 'dist');

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli.ts'],
  outdir,
  ...BUNDLE_OPTIONS,
  splitting: true,
  external: ['fauxqs'],
  legalComments: 'eof',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
process.stdout.write(`bucketscan: built dist/ (${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1024).toFixed(0)} KiB)\n`);
