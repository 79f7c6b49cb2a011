/**
 * The log format as a user meets it: readable lines when stdout is a real
 * terminal, JSON when it is a pipe. The terminal is a pseudo-terminal made by
 * util-linux `script` (no native addon needed), running test/support/log-sample.ts,
 * which logs through createLogger's default destination.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SAMPLE = join(ROOT, 'test', 'support', 'log-sample.ts');
/** Guards against a hang only; nothing is asserted about time. */
const HANG_GUARD_MS = 60_000;

function findScript(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const SCRIPT = findScript();

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

type Env = Record<string, string | undefined>;

/** The environment of the sample: this one without anything that picks a format or colours, plus `extra`. */
function sampleEnv(extra: Env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // CI=true makes Node report a 2-colour terminal, whatever TERM says.
  for (const name of ['LOG_FORMAT', 'NO_COLOR', 'FORCE_COLOR', 'NODE_DISABLE_COLORS', 'CI']) delete env[name];
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

function run(file: string, args: string[], env: Env): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd: ROOT, env: sampleEnv(env), timeout: HANG_GUARD_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

/** The sample with stdout on a pseudo-terminal; the terminal's CRLF line ends become LF. */
async function onTerminal(env: Env): Promise<string[]> {
  const command = [process.execPath, SAMPLE].map(quote).join(' ');
  // -q: no start/done banners; -f: flush as output comes; -e: the sample's exit code.
  // util-linux's script (essential on Debian) gives the sample a real pseudo-terminal; not skipped when missing.
  if (SCRIPT === undefined) throw new Error('util-linux `script` is needed for the terminal tests (apt-get install util-linux)');
  const out = await run(SCRIPT, ['-qfec', command, '/dev/null'], env);
  return lines(out.replaceAll('\r\n', '\n'));
}

async function piped(env: Env): Promise<string[]> {
  return lines(await run(process.execPath, [SAMPLE], env));
}

function lines(text: string): string[] {
  const all = text.split('\n');
  assert.equal(all.pop(), '', `output should end with a newline: ${JSON.stringify(text)}`);
  return all;
}

const SGR = /\u001b\[[0-9;]*m/g;
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

test('on a terminal: one readable line per event, hostile values escaped', async () => {
  const out = await onTerminal({ NO_COLOR: '1', TERM: 'xterm-256color' });
  assert.equal(out.length, 3, out.join('\n'));
  const [clean, dropped, failed] = out as [string, string, string];
  assert.match(
    clean,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}clean: forwarded {2}key=0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00\/hello\.txt outcome=clean durationMs=12$/,
  );
  assert.match(dropped, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}record dropped: evil\\r\\nline {2}/);
  assert.ok(dropped.endsWith(String.raw`  key="a/b\nINFO forged line" reason="red \u001b[31malert\u001b[0m" sep="x\u2028y"`), dropped);
  assert.match(failed, /^\d\d:\d\d:\d\d\.\d{3} ERROR failed {2}component=clamd error=boom nested=\{"k":"v\\u0085w"\}$/);
  for (const line of out) assert.doesNotMatch(line, UNSAFE, line);
});

test('on a colour terminal the level and field names are coloured, and only by us', async () => {
  const out = await onTerminal({ TERM: 'xterm-256color' });
  assert.equal(out.length, 3);
  assert.match(out[0] ?? '', SGR);
  for (const line of out) assert.doesNotMatch(line.replace(SGR, ''), UNSAFE, line);
  const uncoloured = await onTerminal({ TERM: 'xterm-256color', FORCE_COLOR: '0' });
  for (const line of uncoloured) assert.doesNotMatch(line, SGR);
});

test('LOG_FORMAT=json keeps JSON on a terminal', async () => {
  const out = await onTerminal({ LOG_FORMAT: 'json', TERM: 'xterm-256color' });
  assert.equal(out.length, 3);
  const first = JSON.parse(out[0] ?? '') as Record<string, unknown>;
  assert.equal(first['msg'], 'clean: forwarded');
});

test('piped stdout stays JSON, one object per line', async () => {
  const out = await piped({ TERM: 'xterm-256color' });
  assert.equal(out.length, 3);
  const entries = out.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    entries.map((entry) => [entry['level'], entry['msg']]),
    [
      ['info', 'clean: forwarded'],
      ['warn', 'record dropped: evil\r\nline'],
      ['error', 'failed'],
    ],
  );
  assert.equal(entries[1]?.['key'], 'a/b\nINFO forged line');
});

test('LOG_FORMAT=pretty gives readable lines through a pipe too, without colour', async () => {
  const out = await piped({ LOG_FORMAT: 'pretty', TERM: 'xterm-256color' });
  assert.equal(out.length, 3);
  assert.match(out[0] ?? '', /^\d\d:\d\d:\d\d\.\d{3} INFO {2}clean: forwarded {2}key=/);
  for (const line of out) assert.doesNotMatch(line, UNSAFE, line);
});
