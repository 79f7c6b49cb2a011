// The progress line of rescan and dlq redrive: formatting, and when it draws (fake clock, fake stream).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitWidth, Progress } from '../../src/commands/progress.ts';
import { formatCount, formatDuration, formatRate } from '../../src/shared/format.ts';
import type { Clock } from '../../src/shared/time.ts';

function setup(tty: boolean) {
  let now = 0;
  const clock: Clock = { now: () => now, sleep: async () => undefined };
  const written: string[] = [];
  let count = 0;
  const progress = new Progress({
    stream: { write: (text: string) => written.push(text), columns: 40 },
    tty,
    clock,
    timer: false,
    render: (elapsedMs) => `listed ${count} in ${formatDuration(elapsedMs)}`,
  });
  return {
    progress,
    written,
    advance(ms: number, newCount: number) {
      now += ms;
      count = newCount;
      progress.update();
    },
  };
}

test('formatting: counts, durations, rates, width', () => {
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatDuration(4_200), '4.2s');
  assert.equal(formatDuration(42_000), '42s');
  assert.equal(formatDuration(95_000), '1m 35s');
  assert.equal(formatDuration(3 * 3_600_000 + 5 * 60_000), '3h 05m');
  assert.equal(formatDuration(50 * 3_600_000), '2d 02h');
  assert.equal(formatRate(480, 1_000), '480/s');
  assert.equal(formatRate(1, 2_000), '0.5/s');
  assert.equal(formatRate(5, 0), '0/s');
  assert.equal(fitWidth('x'.repeat(100), 20), `${'x'.repeat(18)}…`);
  assert.equal(fitWidth('short', 20), 'short');
});

test('not a terminal: a plain line every 5 s, none in between', () => {
  const { written, advance, progress } = setup(false);
  advance(1_000, 10);
  advance(3_000, 20);
  assert.deepEqual(written, []);
  advance(1_000, 30);
  assert.deepEqual(written, ['listed 30 in 5.0s\n']);
  advance(4_999, 40);
  assert.equal(written.length, 1);
  advance(1, 50);
  assert.deepEqual(written.at(-1), 'listed 50 in 10s\n');
  progress.line('skipped "x": reason');
  assert.equal(written.at(-1), 'skipped "x": reason\n');
  progress.stop();
  assert.ok(
    (written as string[]).every((text) => !text.includes('\r')),
    'no terminal control in a log',
  );
});

test('a terminal: one line redrawn in place, cut to the width, cleared before other lines and at the end', () => {
  const { written, advance, progress } = setup(true);
  advance(0, 1);
  advance(50, 2); // too soon to redraw
  advance(100, 3);
  assert.equal(written.length, 2);
  assert.ok(written.every((text) => text.startsWith('\r\x1b[2K') && !text.includes('\n')));
  assert.match(written[1]!, /listed 3 in 0\.1s$/);
  progress.line('a warning');
  assert.deepEqual(written.slice(2, 4), ['\r\x1b[2K', 'a warning\n']);
  assert.match(written[4]!, /^\r\x1b\[2K. listed 3/, 'the status line comes back');
  progress.stop();
  assert.equal(written.at(-1), '\r\x1b[2K');
  const long = setup(true);
  long.advance(0, 10 ** 30);
  assert.ok([...long.written[0]!.replace('\r\x1b[2K', '')].length <= 39);
});
