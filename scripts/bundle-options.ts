/**
 * The esbuild options every bundle of the project shares: the worker (build.ts),
 * the emulator image (build-emulator.ts) and the benchmark's import-cost probes,
 * so that what the benchmark measures is built as production is.
 */
import type { BuildOptions } from 'esbuild';

export const BUNDLE_OPTIONS = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // ESM builds of the SDK (its "module" field) tree-shake better than its CJS ones.
  mainFields: ['module', 'main'],
  // Whitespace and syntax only: identifiers stay, so stack traces stay readable
  // (and keepNames, which wraps every function in a naming call, is not needed).
  minifyWhitespace: true,
  minifySyntax: true,
  // A few bundled CommonJS packages call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __bucketscanRequire } from 'node:module'; const require = __bucketscanRequire(import.meta.url);",
  },
  logLevel: 'warning',
} satisfies BuildOptions;
