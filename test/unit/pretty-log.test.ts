// Clock times in the expected lines are UTC; Node applies a TZ change at run time.
process.env['TZ'] = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { loadLogSettings } from '../../src/config/log.ts';
import { ConfigError } from '../../src/config/variables.ts';
import { colorsWanted, escapeForTerminal, formatLogLine, formatValue, prettyDestination, resolveLogFormat } from '../../src/log/pretty.ts';

const plain = { colors: false };
const TIME = '2026-11-21T05:47:10.567Z';

/** Everything a terminal could act on or a reader could take for a line break. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Uploader-chosen values that must not escape their field. */
const HOSTILE: Array<[string, string]> = [
  ['newline', 'a/b\n{"level":"error","msg":"forged"}'],
  ['carriage return', 'a/b\rINFO  overwritten start of line'],
  ['CRLF', 'a\r\nb'],
  ['U+2028', 'a\u2028b'],
  ['U+2029', 'a\u2029b'],
  ['NEL U+0085', 'a\u0085b'],
  ['ANSI colour', 'file \u001b[31mRED\u001b[0m.txt'],
  ['ANSI clear screen', '\u001b[2J\u001b[H'],
  ['OSC title', '\u001b]0;pwned\u0007'],
  ['C1 CSI U+009B', 'a\u009b31mb'],
  ['DEL', 'a\u007fb'],
  ['NUL', 'a\u0000b'],
  ['bidi override', 'invoice\u202Efdp.exe'],
  ['zero-width space', 'pay\u200Bpal'],
  ['lone high surrogate', 'a\ud800b'],
  ['lone low surrogate', 'a\udc00b'],
  ['astral format char', 'tag\u{E0001}x'],
  ['quote and equals', 'a" outcome=clean x="'],
  ['backslash', 'a\\u001b[31m'],
];

test('a line reads time, level, message and the other fields', () => {
  const line = JSON.stringify({
    level: 'info',
    time: TIME,
    name: 'bucketscan',
    key: 'guid/a.txt',
    outcome: 'clean',
    durationMs: 12,
    msg: 'clean: forwarded',
  });
  assert.equal(formatLogLine(`${line}\n`, plain), '05:47:10.567 INFO  clean: forwarded  key=guid/a.txt outcome=clean durationMs=12\n');
});

test('other loggers show their name; values that need it are quoted JSON; objects are compact JSON', () => {
  const line = JSON.stringify({
    level: 'warn',
    time: TIME,
    name: 'emulator',
    reason: 'file too large',
    signature: null,
    nested: { a: [1, 'x y'] },
    msg: 'hello',
  });
  assert.equal(
    formatLogLine(line, plain),
    '05:47:10.567 WARN  [emulator] hello  reason="file too large" signature=null nested={"a":[1,"x y"]}\n',
  );
});

test('numeric levels (a logger without the label formatter) and lines without a message', () => {
  assert.equal(formatLogLine(JSON.stringify({ level: 50, time: TIME, a: 1 }), plain), '05:47:10.567 ERROR  a=1\n');
  assert.equal(formatLogLine(JSON.stringify({ level: 'debug' }), plain), '--:--:--.--- DEBUG\n');
});

test('hostile values: every event stays one line with no character a terminal acts on', () => {
  for (const [name, value] of HOSTILE) {
    const line = JSON.stringify({ level: 'warn', time: TIME, key: value, [value]: value, msg: `dropped: ${value}` });
    for (const colors of [false, true]) {
      const out = formatLogLine(line, { colors });
      assert.ok(out.endsWith('\n'), name);
      const body = out.slice(0, -1);
      // Without colours: nothing unsafe at all. With colours: only our own SGR codes.
      const rest = colors ? body.replace(/\u001b\[[0-9;]*m/g, '') : body;
      assert.doesNotMatch(rest, UNSAFE, `${name} (colors: ${colors}): ${JSON.stringify(out)}`);
    }
  }
});

test('hostile values survive: a quoted value is the JSON string of the original', () => {
  for (const [name, value] of HOSTILE) {
    const shown = formatValue(value);
    assert.ok(shown.startsWith('"'), `${name} should be quoted: ${shown}`);
    assert.equal(JSON.parse(shown), value, name);
  }
});

test('the attacker cannot fake our field separators', () => {
  const line = JSON.stringify({ level: 'info', time: TIME, key: 'x outcome=infected', msg: 'm' });
  assert.equal(formatLogLine(line, plain), '05:47:10.567 INFO  m  key="x outcome=infected"\n');
});

test('message text is escaped, not quoted', () => {
  const line = JSON.stringify({ level: 'info', time: TIME, msg: 'record dropped: "a\nb" \u001b[31m\u2028' });
  assert.equal(formatLogLine(line, plain), '05:47:10.567 INFO  record dropped: "a\\nb" \\u001b[31m\\u2028\n');
});

test('a very long key is written whole, on one line', () => {
  const key = `guid/${'\u2028a\nb\u001b[1m'.repeat(20_000)}`;
  const out = formatLogLine(JSON.stringify({ level: 'warn', time: TIME, key, msg: 'm' }), plain);
  assert.equal(out.indexOf('\n'), out.length - 1);
  assert.doesNotMatch(out.slice(0, -1), UNSAFE);
  assert.equal(JSON.parse(out.slice(out.indexOf('key=') + 4, -1)), key);
});

test('a line that is not a JSON object is written escaped, as one line', () => {
  assert.equal(formatLogLine('not json \u001b[31m\r', plain), 'not json \\u001b[31m\\r\n');
  assert.equal(formatLogLine('[1,2]', plain), '[1,2]\n');
});

test('escapeForTerminal keeps printable text, accents, emoji and CJK as they are', () => {
  const text = 'café e\u0301 😀 文件.pdf … «»';
  assert.equal(escapeForTerminal(text), text);
  assert.equal(formatValue('café😀'), 'café😀');
});

test('through pino: hostile fields and message arguments give one pretty line per event', () => {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('debug', 'bucketscan', sink, { format: 'pretty' });
  for (const [, value] of HOSTILE) logger.warn({ key: value }, 'record dropped: %s', value);
  const text = chunks.join('');
  const lines = text.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, HOSTILE.length);
  for (const [index, line] of lines.entries()) {
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}record dropped: /);
    assert.doesNotMatch(line, UNSAFE);
    assert.equal(JSON.parse(line.slice(line.lastIndexOf('  key=') + 6)), HOSTILE[index]?.[1]);
  }
});

test('an explicit destination stays JSON unless pretty is asked for, whatever LOG_FORMAT says', () => {
  const saved = process.env['LOG_FORMAT'];
  process.env['LOG_FORMAT'] = 'pretty';
  try {
    const chunks: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    });
    createLogger('info', 'bucketscan', sink).info({ a: 1 }, 'hello');
    assert.equal((JSON.parse(chunks.join('')) as { msg: string }).msg, 'hello');
  } finally {
    if (saved === undefined) delete process.env['LOG_FORMAT'];
    else process.env['LOG_FORMAT'] = saved;
  }
});

test('prettyDestination splits a chunk holding several lines', () => {
  const out: string[] = [];
  const destination = prettyDestination((text) => out.push(text), plain);
  destination.write(
    `${JSON.stringify({ level: 'info', time: TIME, msg: 'one' })}\n${JSON.stringify({ level: 'info', time: TIME, msg: 'two' })}\n`,
  );
  assert.deepEqual(out, ['05:47:10.567 INFO  one\n', '05:47:10.567 INFO  two\n']);
});

test('LOG_FORMAT: auto by default, json or pretty, anything else a one-line error naming it', () => {
  const format = (value: string | undefined) => loadLogSettings({ LOG_FORMAT: value }).format;
  assert.equal(format(undefined), 'auto');
  assert.equal(format(''), 'auto');
  assert.equal(format('json'), 'json');
  assert.equal(format('Pretty'), 'pretty');
  assert.throws(() => format('text'), new ConfigError('LOG_FORMAT', 'must be one of auto, json, pretty'));
  assert.equal(resolveLogFormat('auto', true), 'pretty');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('pretty', false), 'pretty');
});

test('colours: FORCE_COLOR wins, then NO_COLOR, then only a terminal that has colours', () => {
  const tty = { isTTY: true, hasColors: () => true };
  const monochrome = { isTTY: true, hasColors: () => false };
  const pipe = { isTTY: false };
  assert.equal(colorsWanted({}, tty), true);
  assert.equal(colorsWanted({}, monochrome), false);
  assert.equal(colorsWanted({}, pipe), false);
  assert.equal(colorsWanted({ NO_COLOR: '1' }, tty), false);
  assert.equal(colorsWanted({ NO_COLOR: '' }, tty), true, 'no-color.org: an empty NO_COLOR is not set');
  assert.equal(colorsWanted({ FORCE_COLOR: '1' }, pipe), true);
  assert.equal(colorsWanted({ FORCE_COLOR: '' }, pipe), true);
  assert.equal(colorsWanted({ FORCE_COLOR: '1', NO_COLOR: '1' }, pipe), true);
  assert.equal(colorsWanted({ FORCE_COLOR: '0' }, tty), false);
  assert.equal(colorsWanted({ FORCE_COLOR: 'false' }, tty), false);
});
