import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../src/log/logger.ts';
import { parseVersionReply, type EngineInfo } from '../../src/scan/reply.ts';
import {
  assessFreshness,
  databaseBuildTime,
  DEFAULT_MAX_DEFINITIONS_AGE_HOURS,
  FAILURES_BEFORE_UNKNOWN,
  freshnessState,
  startFreshnessMonitor,
  type FreshnessMonitor,
  type FreshnessMonitorOptions,
  type FreshnessState,
} from '../../src/scan/freshness.ts';
import { formatAge } from '../../src/shared/format.ts';

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/clamd/version-replies.json', import.meta.url), 'utf8')) as {
  replies: Record<string, { reply: string }>;
};
/** A fixture reply as the client parses it. */
function engine(name: string): EngineInfo {
  const fixture = fixtures.replies[name];
  assert.ok(fixture, `no fixture ${name}`);
  return parseVersionReply(Buffer.from(fixture.reply, 'latin1'));
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OFFICIAL = engine('official');
/** When the "official" fixture's daily database was built, read in this process's time zone. */
const BUILT = databaseBuildTime(OFFICIAL.databaseDate ?? '') ?? Number.NaN;
/** The same database after an update: a newer version built `hoursLater` after the fixture's. */
function updated(version: number, hoursLater: number): EngineInfo {
  const date = new Date(BUILT + hoursLater * HOUR);
  const two = (n: number) => String(n).padStart(2, '0');
  const local = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return { clamav: '1.4.6', databaseVersion: version, databaseDate: local, raw: `ClamAV 1.4.6/${version}/(date)` };
}

describe('assessFreshness', () => {
  test('the fixture dates parse', () => {
    assert.ok(Number.isFinite(BUILT));
    assert.equal(new Date(BUILT).getHours(), 9, 'a date without an offset is local time');
  });

  test('fresh within MAX_DEFINITIONS_AGE, with the age in seconds', () => {
    const result = assessFreshness(OFFICIAL, BUILT + 3 * HOUR, 48);
    assert.equal(result.status, 'fresh');
    assert.equal(result.ageSeconds, 3 * 3_600);
    assert.equal(result.databaseVersion, 27431);
    assert.equal(result.databaseDate, '2025-10-30T09:22:40');
    assert.equal(result.detail, 'definitions are fresh: 3 hours old (daily 27431 built 2025-10-30T09:22:40; MAX_DEFINITIONS_AGE=48h)');
  });

  test('stale only once older than the limit; exactly the limit is still fresh', () => {
    assert.equal(assessFreshness(OFFICIAL, BUILT + 48 * HOUR, 48).status, 'fresh');
    assert.equal(assessFreshness(OFFICIAL, BUILT + 48 * HOUR + 1_000, 48).status, 'stale');
    const stale = assessFreshness(OFFICIAL, BUILT + 3 * DAY + 5 * HOUR, 48);
    assert.equal(stale.status, 'stale');
    assert.equal(stale.ageSeconds, (3 * 24 + 5) * 3_600);
    assert.equal(stale.detail, 'definitions are stale: 3 days old (daily 27431 built 2025-10-30T09:22:40; MAX_DEFINITIONS_AGE=48h)');
  });

  test('a ctime date with a space-padded day works the same', () => {
    const padded = engine('official-padded-day');
    const built = databaseBuildTime(padded.databaseDate ?? '') ?? Number.NaN;
    assert.equal(assessFreshness(padded, built + HOUR, 48).ageSeconds, 3_600);
  });

  test('only test signatures (what clamd 1.4.6 really answers): its own status, no age', () => {
    const result = assessFreshness(engine('test-signatures-only'), BUILT, 48);
    assert.equal(result.status, 'test-signatures');
    assert.equal(result.ageSeconds, null);
    assert.match(result.detail, /^no official ClamAV database is loaded \(clamd says "ClamAV 1\.4\.6"\)/);
  });

  test('no date, or a date that does not read: unknown', () => {
    const noDate = assessFreshness(engine('version-without-date'), BUILT, 48);
    assert.equal(noDate.status, 'unknown');
    assert.match(noDate.detail, /version 27431 without a build date/);
    const bad = assessFreshness(engine('unreadable-date'), BUILT, 48);
    assert.equal(bad.status, 'unknown');
    assert.match(bad.detail, /"Thu Feb 31 09:22:40 2025" could not be read/);
  });

  test('a build time in the future counts as just built', () => {
    const result = assessFreshness(OFFICIAL, BUILT - 5 * HOUR, 48);
    assert.equal(result.status, 'fresh');
    assert.equal(result.ageSeconds, 0);
  });

  test('dates with an explicit offset are taken as they say', () => {
    assert.equal(databaseBuildTime('2026-11-20T09:00:00.000Z'), Date.UTC(2026, 10, 20, 9));
    assert.equal(databaseBuildTime('2026-11-20T09:00:00+02:00'), Date.UTC(2026, 10, 20, 7));
    assert.equal(databaseBuildTime('Thu Oct 30 09:22:40 2025'), null);
    assert.equal(databaseBuildTime('2026-11-20'), null);
  });

  test('pause only when the mode is pause and the definitions are stale', () => {
    const extra = { clamav: '1.4.6', checkedAt: null, consecutiveFailures: 0 };
    const stale = assessFreshness(OFFICIAL, BUILT + 3 * DAY, 48);
    const paused = freshnessState(stale, 'pause', extra);
    assert.equal(paused.pause, true);
    assert.match(paused.detail, /; not taking messages until they are fresh again \(STALE_DEFINITIONS=pause\)$/);
    const warned = freshnessState(stale, 'warn', extra);
    assert.equal(warned.pause, false);
    assert.match(warned.detail, /; still scanning \(STALE_DEFINITIONS=warn\)$/);
    for (const other of [
      assessFreshness(OFFICIAL, BUILT, 48),
      assessFreshness(engine('test-signatures-only'), BUILT, 48),
      assessFreshness(engine('unreadable-date'), BUILT, 48),
    ]) {
      assert.equal(freshnessState(other, 'pause', extra).pause, false, other.status);
    }
  });

  test('formatAge', () => {
    assert.equal(formatAge(0), '0 seconds');
    assert.equal(formatAge(1), '1 second');
    assert.equal(formatAge(59 * 60 + 59), '59 minutes');
    assert.equal(formatAge(3_600), '1 hour');
    assert.equal(formatAge(47 * 3_600 + 3_599), '47 hours');
    assert.equal(formatAge(48 * 3_600), '2 days');
    assert.equal(formatAge(3 * 86_400 + 100), '3 days');
  });

  test('the default limit is two days', () => {
    assert.equal(DEFAULT_MAX_DEFINITIONS_AGE_HOURS, 48);
  });
});

describe('startFreshnessMonitor', () => {
  const INTERVAL = 60_000;
  let lines: Array<Record<string, unknown>>;
  let monitor: FreshnessMonitor | undefined;

  beforeEach(() => {
    lines = [];
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: BUILT + 3 * HOUR });
  });
  afterEach(() => {
    monitor?.stop();
    monitor = undefined;
    mock.timers.reset();
  });

  const sink: DestinationStream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  const logger = () => createLogger('info', 'bucketscan', sink);
  /** The lines at info and above about definitions (debug lines are off). */
  const messages = () => lines.map((line) => `${String(line['level'])}: ${String(line['msg'])}`);

  /** readVersion answering from a script: an EngineInfo, or an Error to throw. */
  function scripted(answers: Array<EngineInfo | Error>): { read: () => Promise<EngineInfo>; calls: () => number } {
    let calls = 0;
    return {
      read: async () => {
        const answer = answers[Math.min(calls, answers.length - 1)];
        calls += 1;
        if (answer instanceof Error) throw answer;
        assert.ok(answer);
        return answer;
      },
      calls: () => calls,
    };
  }

  async function start(
    options: Partial<FreshnessMonitorOptions> & Pick<FreshnessMonitorOptions, 'readVersion'>,
  ): Promise<FreshnessMonitor> {
    monitor = startFreshnessMonitor({ maxAgeHours: 48, mode: 'warn', intervalMs: INTERVAL, logger: logger(), ...options });
    await monitor.settled();
    return monitor;
  }

  /** Moves the mocked clock on and waits for the check it triggers. */
  async function advance(ms: number): Promise<FreshnessState> {
    assert.ok(monitor);
    mock.timers.tick(ms);
    return monitor.settled();
  }

  test('checks at once, then every interval; logs the first state and then only changes', async () => {
    const clamd = scripted([OFFICIAL]);
    const m = await start({ readVersion: clamd.read });
    assert.equal(clamd.calls(), 1);
    assert.equal(m.state().status, 'fresh');
    assert.equal(m.state().ageSeconds, 3 * 3_600);
    assert.equal(m.state().clamav, '1.4.6');
    assert.deepEqual(messages(), [
      'info: definitions are fresh: 3 hours old (daily 27431 built 2025-10-30T09:22:40; MAX_DEFINITIONS_AGE=48h)',
    ]);
    assert.equal(lines[0]?.['definitions'], 'fresh');
    assert.equal(lines[0]?.['definitionsAgeSeconds'], 3 * 3_600);

    for (let i = 0; i < 5; i++) await advance(INTERVAL);
    assert.equal(clamd.calls(), 6);
    assert.equal(lines.length, 1, 'no line while nothing changes');
    assert.equal(m.state().ageSeconds, 3 * 3_600 + 5 * 60, 'the age follows the clock');
  });

  test('warn mode: stale is logged once, keeps scanning, and the update back to fresh is logged', async () => {
    const answers: Array<EngineInfo | Error> = [OFFICIAL];
    const m = await start({ readVersion: async () => answers[0] as EngineInfo });
    await advance(46 * HOUR);
    assert.equal(m.state().status, 'stale');
    assert.equal(m.state().pause, false);
    for (let i = 0; i < 3; i++) await advance(INTERVAL);
    assert.deepEqual(messages().slice(1), [
      'warn: definitions are stale: 2 days old (daily 27431 built 2025-10-30T09:22:40; MAX_DEFINITIONS_AGE=48h); still scanning (STALE_DEFINITIONS=warn)',
    ]);

    answers[0] = updated(27440, 49);
    const state = await advance(INTERVAL);
    assert.equal(state.status, 'fresh');
    assert.equal(state.databaseVersion, 27440);
    assert.equal(lines.length, 3);
    assert.match(messages()[2] ?? '', /^info: definitions are fresh: 4 minutes old \(daily 27440 /);
  });

  test('pause mode: stale pauses with an error line, fresh again resumes', async () => {
    let answer = OFFICIAL;
    const changes: Array<[string, string]> = [];
    const m = await start({
      mode: 'pause',
      readVersion: async () => answer,
      onChange: (next, previous) => changes.push([previous.status, next.status]),
    });
    assert.equal(m.state().pause, false);
    await advance(46 * HOUR);
    assert.equal(m.state().status, 'stale');
    assert.equal(m.state().pause, true);
    assert.match(m.state().detail, /not taking messages until they are fresh again \(STALE_DEFINITIONS=pause\)$/);
    assert.equal(lines.at(-1)?.['level'], 'error');

    answer = updated(27450, 50);
    await advance(INTERVAL);
    assert.equal(m.state().pause, false);
    assert.match(String(lines.at(-1)?.['msg']), /^definitions are fresh: .*; taking messages again$/);
    assert.deepEqual(changes, [
      ['unknown', 'fresh'],
      ['fresh', 'stale'],
      ['stale', 'fresh'],
    ]);
  });

  test('a new database under the same status is logged once as an update', async () => {
    let answer = OFFICIAL;
    await start({ readVersion: async () => answer });
    answer = updated(27432, 2);
    await advance(INTERVAL);
    await advance(INTERVAL);
    assert.equal(lines.length, 2);
    assert.match(messages()[1] ?? '', /^info: definitions updated: definitions are fresh: 1 hour old \(daily 27432 /);
  });

  test('a few failed reads keep the last database, aged by the clock; then unknown, which never pauses', async () => {
    const down = new Error('connect ECONNREFUSED 127.0.0.1:3310');
    const clamd = scripted([OFFICIAL, down]);
    const m = await start({ mode: 'pause', readVersion: clamd.read });
    assert.equal(m.state().status, 'fresh');

    // 44 h 59 min later the database is 47 h 59 min old: still fresh, first failure.
    const first = await advance(45 * HOUR - INTERVAL);
    assert.equal(first.status, 'fresh');
    assert.equal(first.consecutiveFailures, 1);
    // Past 48 h while clamd is still unreachable: the known database is now stale.
    const second = await advance(2 * INTERVAL);
    assert.equal(second.status, 'stale');
    assert.equal(second.pause, true);
    assert.equal(second.consecutiveFailures, 2);
    // The limit of failed reads: unknown, and no pause.
    const third = await advance(INTERVAL);
    assert.equal(FAILURES_BEFORE_UNKNOWN, 3);
    assert.equal(third.status, 'unknown');
    assert.equal(third.pause, false);
    assert.equal(third.databaseVersion, 27431, 'the last known database is still shown');
    assert.equal(third.detail, "clamd's VERSION could not be read 3 times in a row (last error: connect ECONNREFUSED 127.0.0.1:3310)");
    await advance(INTERVAL);
    await advance(INTERVAL);
    assert.deepEqual(
      lines.map((line) => [line['level'], line['definitions']]),
      [
        ['info', 'fresh'],
        ['error', 'stale'],
        ['warn', 'unknown'],
      ],
      'one line per change, none per failed read',
    );
    assert.equal(lines.at(-1)?.['consecutiveFailures'], 3);
  });

  test('clamd answering again ends unknown', async () => {
    const answers: Array<EngineInfo | Error> = [new Error('down')];
    const m = await start({
      readVersion: async () => {
        const a = answers[0];
        if (a instanceof Error) throw a;
        return a as EngineInfo;
      },
    });
    assert.equal(m.state().status, 'unknown');
    assert.equal(m.state().detail, 'the definitions have not been checked yet');
    await advance(INTERVAL);
    assert.equal(lines.length, 0, 'failures before the limit are not a change');
    await advance(INTERVAL);
    assert.equal(m.state().detail, "clamd's VERSION could not be read 3 times in a row (last error: down)");
    assert.equal(m.state().databaseVersion, null);
    assert.deepEqual(messages(), [
      "warn: cannot tell how old the definitions are: clamd's VERSION could not be read 3 times in a row (last error: down)",
    ]);
    answers[0] = OFFICIAL;
    const back = await advance(INTERVAL);
    assert.equal(back.status, 'fresh');
    assert.equal(back.consecutiveFailures, 0);
    assert.equal(lines.length, 2);
  });

  test('only test signatures: one info line, no warning, never a pause', async () => {
    const m = await start({ mode: 'pause', readVersion: async () => engine('test-signatures-only') });
    for (let i = 0; i < 3; i++) await advance(DAY);
    assert.equal(m.state().status, 'test-signatures');
    assert.equal(m.state().pause, false);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['level'], 'info');
    assert.match(String(lines[0]?.['msg']), /^no official ClamAV database is loaded/);
  });

  test('an unreadable date is unknown at once and logged once', async () => {
    const m = await start({ readVersion: async () => engine('unreadable-date') });
    await advance(INTERVAL);
    assert.equal(m.state().status, 'unknown');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['level'], 'warn');
  });

  test('checkNow joins a read under way; stop ends the schedule', async () => {
    let release: (info: EngineInfo) => void = () => undefined;
    let calls = 0;
    const m = startFreshnessMonitor({
      maxAgeHours: 48,
      mode: 'warn',
      intervalMs: INTERVAL,
      logger: logger(),
      readVersion: () => {
        calls += 1;
        return new Promise<EngineInfo>((resolve) => (release = resolve));
      },
    });
    monitor = m;
    const joined = m.checkNow();
    assert.equal(calls, 1, 'the start-up read is joined, not repeated');
    release(OFFICIAL);
    assert.equal((await joined).status, 'fresh');
    m.stop();
    mock.timers.tick(10 * INTERVAL);
    await m.settled();
    assert.equal(calls, 1, 'no read after stop');
  });

  test('bad options are refused', () => {
    const base = { readVersion: async () => OFFICIAL, maxAgeHours: 48, mode: 'warn' as const, logger: logger() };
    assert.throws(() => startFreshnessMonitor({ ...base, maxAgeHours: 0 }), /maxAgeHours must be a number above 0/);
    assert.throws(() => startFreshnessMonitor({ ...base, intervalMs: Number.NaN }), /intervalMs must be a number above 0/);
    assert.throws(() => startFreshnessMonitor({ ...base, failuresBeforeUnknown: 0 }), /failuresBeforeUnknown/);
    assert.throws(() => startFreshnessMonitor({ ...base, mode: 'panic' as never }), /mode must be one of warn, pause/);
  });
});
