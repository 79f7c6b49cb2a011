// `bucketscan local --demo`, which `make run`/`make demo` start: the banner, its
// copy-paste `aws` upload command run as printed, the demo's two outcomes, and a
// clean stop of every child on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../../src/local/free-port.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the local stack prints a working upload command, runs the demo, and stops cleanly', { timeout: 180_000 }, async () => {
  const port = await freePort();
  // The committed .env, as `make run` reads it, with only the port moved off 4566.
  const child = spawn(process.execPath, [join(root, 'src', 'cli.ts'), 'local', '--demo'], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the banner', () => (stderr.includes('Ctrl-C stops') ? true : undefined), 120_000);
    assert.match(stderr, new RegExp(`AWS endpoint \\(S3, SQS, SNS\\): http://127\\.0\\.0\\.1:${port}`));
    const results = await waitFor(
      'the demo results',
      () => (/Demo results:[\s\S]*EICAR[^\n]*\n[^\n]*moved to/.test(stderr) ? true : undefined),
      120_000,
    );
    assert.ok(results);
    assert.match(stderr, /clean {2}s3:\/\/unprocessed\/[^\n]+\n\s+-> stayed in place; its event was forwarded/);
    assert.match(stderr, /-> report s3:\/\/quarantine\/[^\n]+eicar\.com\.report\.json/);

    // The upload line exactly as printed, run from a scratch directory.
    const line = stderr
      .split('\n')
      .find((l) => l.includes(' s3 cp hello.txt '))!
      .trim();
    const scratch = mkdtempSync(join(tmpdir(), 'bucketscan-newcomer-'));
    execFileSync('bash', ['-c', line], { cwd: scratch, stdio: 'pipe' });
    const key = /s3:\/\/unprocessed\/(\S+)/.exec(line)![1]!;
    await waitFor('the uploaded file to be forwarded', () =>
      stdout.includes(`"key":"${key}"`) && stdout.includes('"outcome":"clean"') ? true : undefined,
    );
    const clamdPid = await waitFor('the clamd child pid', () => {
      const out = execFileSync('pgrep', ['-P', String(child.pid), 'clamd'], { encoding: 'utf8' }).trim();
      return out ? Number(out.split('\n')[0]) : undefined;
    });

    child.kill('SIGINT');
    assert.equal(await exit, 0);
    assert.equal(alive(clamdPid), false, 'clamd stopped with the stack');
    assert.match(stdout, /"msg":"worker stopped"/);
    // One key once per line: a child logger bound twice writes `"component":…` twice.
    const repeated = stdout.split('\n').filter((l) => (l.match(/"component":/g) ?? []).length > 1);
    assert.deepEqual(repeated, []);
  } finally {
    child.kill('SIGKILL');
  }
});
