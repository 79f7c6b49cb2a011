#!/usr/bin/env node
// The installed `bucketscan` command. It runs the compiled worker (dist/, from
// `npm run build`) in this very process: an orchestrator's SIGTERM reaches the
// worker itself, and no launcher stays resident beside it.
//
// The worker's memory settings are V8 flags, which only take effect at process
// start. When they are missing (a plain `bucketscan worker`), the process replaces
// itself with one that has them (execve: same pid, no parent left behind).
//
// Machines that ship an older Node (these do: Node 20) reach this file through a
// PATH that may not list Node 24 first; there it runs the Node 24 that the `node`
// devDependency installed as a child. That is for development; in production put
// Node 24 first on PATH (the image does).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * A 2 MB semi-space keeps streaming garbage from lifting peak RSS, a 64 MB old
 * generation keeps V8 from growing the heap far past what the worker holds, and
 * one V8 helper thread instead of four leaves the task's vCPUs to clamd and takes
 * the idle worker's memory out of the upper glibc heap mode (docs/benchmarks.md).
 * Keep in step with package.json's "worker" script and the Dockerfile's entrypoint.
 */
const V8_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=64', '--v8-pool-size=1'];

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, 'dist', 'cli.js');
const self = fileURLToPath(import.meta.url);
const major = Number(process.versions.node.split('.')[0]);

if (!existsSync(cli)) {
  process.stderr.write(`bucketscan: ${cli} is missing; run "npm run build" in ${root}\n`);
  process.exit(2);
}

if (major >= 24) {
  const missing = V8_FLAGS.filter((flag) => !process.execArgv.some((arg) => arg.split('=')[0] === flag.split('=')[0]));
  if (missing.length > 0 && typeof process.execve === 'function') {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, self, ...process.argv.slice(2)], process.env);
  }
  await import(pathToFileURL(cli).href);
} else {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bundled)) {
    process.stderr.write(`bucketscan: needs Node.js 24 or later (this is ${process.version}); run "npm ci" in ${root} to install it\n`);
    process.exit(2);
  }
  const child = spawn(bundled, [...V8_FLAGS, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  // The worker's graceful shutdown depends on seeing SIGTERM, and an orchestrator
  // signals only this process: pass the signals on and mirror the exit.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
}
