/**
 * Bundles the standalone emulator (src/local/emulator-main.ts) into one file,
 * fauxqs and the AWS SDK included, for the emulator image
 * (images/emulator/Dockerfile): that image then needs Node and this file only,
 * not the project's development node_modules (Node itself, TypeScript, esbuild).
 *   node scripts/build-emulator.ts [outfile]   default dist-emulator/emulator.js
 */
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from './bundle-options.ts';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const outfile = resolve(process.argv[2] ?? join(root, 'dist-emulator', 'emulator.js'));

await build({
  absWorkingDir: root,
  entryPoints: ['src/local/emulator-main.ts'],
  outfile,
  ...BUNDLE_OPTIONS,
  legalComments: 'eof',
});
process.stdout.write(`bucketscan: built ${outfile}\n`);
