// The deployed configuration, run as processes: the compiled worker and a local
// clamd (deploy/test/deployed-config.ts has the suite; make test-image runs it
// with the container images).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClamd } from '../../src/local/clamd-process.ts';
import { createLogger } from '../../src/log/logger.ts';
import { productionCommand } from '../../bench/production.ts';
import { deployedConfigTests, ROOT, type Launcher } from './deployed-config.ts';

/**
 * clamd from src/local/clamd-process.ts, configured from the clamd container's
 * variables (address, port, threads, stream limit); the project's test signatures
 * stand in for the database the task's freshclam would fetch from the mirror.
 */
const processLauncher: Launcher = {
  async startClamd(environment) {
    assert.equal(environment['CLAMD_TCP_ADDR'], '127.0.0.1');
    const workDir = mkdtempSync(join(tmpdir(), 'bucketscan-deploy-clamd-'));
    const clamd = await startClamd({
      workDir,
      port: Number(environment['CLAMD_TCP_PORT']),
      maxThreads: Number(environment['CLAMD_MAX_THREADS']),
      streamMaxBytes: Number(environment['CLAMD_STREAM_MAX_LENGTH_MB']) * 1024 * 1024,
      officialDatabaseDir: null,
      logger: createLogger('warn', 'clamd'),
    });
    return {
      async stop() {
        await clamd.stop();
        rmSync(workDir, { recursive: true, force: true });
      },
    };
  },
  async startWorker(environment) {
    // The image's ENTRYPOINT + CMD, from the repository root (where the image has /app).
    const child = spawn(process.execPath, [...productionCommand().nodeArgs, 'dist/cli.js', 'worker'], {
      cwd: ROOT,
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    void exit.then((code) => {
      if (code !== 0 && code !== null) process.stderr.write(`worker exited ${code}: ${stderr}\n`);
    });
    return {
      lines,
      async stop() {
        child.kill('SIGTERM');
        return exit;
      },
    };
  },
};

deployedConfigTests(processLauncher);
