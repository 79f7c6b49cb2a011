/**
 * The esbuild options every bundle of the project shares: the worker (build.ts),
 * the emulator image (build-emulator.ts) and the benchmark's import-cost probes,
 * so that what the benchmark measures is built as production is.
 */
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * Node built-ins that `import` would load more of than `require` does. Building an
 * ES module namespace for a built-in reads every export, and node:http's exports
 * include WebSocket, CloseEvent and MessageEvent, whose first read loads Node's
 * bundled undici (750 KB of source): 13 MiB of RSS in an otherwise empty process,
 * 2 MiB in the idle worker, which never uses them. `require` leaves them unread.
 */
const REQUIRED_BUILTINS = /^(node:)?http$/;

/** Imports of REQUIRED_BUILTINS become require() calls (through the banner's `require`). */
const requireBuiltins: Plugin = {
  name: 'require-builtins',
  setup(build) {
    build.onResolve({ filter: REQUIRED_BUILTINS }, (args) =>
      args.kind === 'require-call'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'required-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'required-builtin' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
  },
};

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
  plugins: [requireBuiltins],
  logLevel: 'warning',
} satisfies BuildOptions;
