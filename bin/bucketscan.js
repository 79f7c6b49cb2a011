#!/usr/bin/env node
// The project runs its TypeScript directly, which needs Node.js 24. Machines that
// ship an older Node reach this file through a PATH that may not list the
// project's own Node first (a global install, a shell without npm), so re-run
// under the Node that the `node` devDependency installed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, 'src', 'cli.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(pathToFileURL(cli).href);
} else {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bundled)) {
    process.stderr.write(
      `bucketscan: needs Node.js 24 or later (this is ${process.version}); run "npm ci" in ${root} to install it\n`,
    );
    process.exit(2);
  }
  const child = spawn(bundled, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  // The worker's graceful shutdown depends on seeing SIGTERM, and an orchestrator
  // signals only this process: pass the signals on and mirror the exit.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
}
