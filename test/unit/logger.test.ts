// The worker's JSON lines (src/log/logger.ts) are written as they are logged: a
// process killed straight after logging has put every line on its stdout (a pipe,
// as a container runtime gives it). A destination that queued lines for a
// background write would lose all but the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const LOGGER = new URL('../../src/log/logger.ts', import.meta.url).href;

test('every JSON line logged before a SIGKILL is on stdout', async () => {
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOGGER)});
    const logger = createLogger('info', 'bucketscan', undefined, { format: 'json' });
    for (let i = 0; i < 500; i += 1) logger.info({ i }, 'clean: forwarded');
    process.kill(process.pid, 'SIGKILL');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  const [code, signal] = await once(child, 'exit');
  assert.equal(code, null);
  assert.equal(signal, 'SIGKILL');
  if (!child.stdout.readableEnded) await once(child.stdout, 'end');
  const lines = out.split('\n').filter(Boolean);
  assert.equal(lines.length, 500);
  assert.deepEqual(
    lines.map((line) => (JSON.parse(line) as { i: number }).i),
    Array.from({ length: 500 }, (_, i) => i),
  );
});
