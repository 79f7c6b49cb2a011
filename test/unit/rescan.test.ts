// The pure parts of `bucketscan rescan`: its arguments, the rate limiter (on a
// fake clock: no real waiting), and the event it builds for each listed object.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessageBody } from '../../src/events/message.ts';
import { checkRecord } from '../../src/events/record.ts';
import { createSequencer } from '../../src/events/s3-event.ts';
import { parseS3Url } from '../../src/aws/s3-url.ts';
import { parseRate, parseSince, resolveArea, shellQuote, type ScannedArea } from '../../src/rescan/options.ts';
import { decide, RESCAN_CONFIGURATION_ID, type RescanRules } from '../../src/rescan/plan.ts';
import { batchSizeFor, RateLimiter } from '../../src/rescan/rate-limiter.ts';
import type { Clock } from '../../src/shared/time.ts';

const GUID = '3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34';

describe('parseS3Url for a prefix', () => {
  test('bucket, bucket with slash, bucket with prefix', () => {
    assert.deepEqual(parseS3Url('s3://unprocessed', 'prefix'), { ok: true, value: { bucket: 'unprocessed', key: '' } });
    assert.deepEqual(parseS3Url('s3://unprocessed/', 'prefix'), { ok: true, value: { bucket: 'unprocessed', key: '' } });
    assert.deepEqual(parseS3Url('s3://unprocessed/in coming/x+y', 'prefix'), {
      ok: true,
      value: { bucket: 'unprocessed', key: 'in coming/x+y' },
    });
  });
  const bad: Array<[string, RegExp]> = [
    ['unprocessed', /starts with s3:\/\/ \(expected s3:\/\/<bucket>\[\/<prefix>\]\)/],
    ['https://unprocessed.s3.amazonaws.com/x', /starts with s3:\/\//],
    ['S3://unprocessed', /starts with s3:\/\//],
    ['s3://', /no bucket name/],
    ['s3:///prefix', /no bucket name/],
    ['s3://UpperCase', /invalid bucket name/],
    ['s3://ab', /invalid bucket name/],
    ['s3://under_score/x', /invalid bucket name/],
    ['s3://double..dot', /invalid bucket name/],
    ['s3://192.168.5.4/x', /IP address/],
    [`s3://unprocessed/${'k'.repeat(1025)}`, /1025 bytes long/],
  ];
  for (const [url, reason] of bad) {
    test(`refuses ${JSON.stringify(url.slice(0, 40))}`, () => {
      const parsed = parseS3Url(url, 'prefix');
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.reason, reason);
    });
  }
});

describe('parseSince', () => {
  const now = new Date('2026-06-15T12:00:00Z');
  const since = (text: string) => {
    const parsed = parseSince(text, now);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value.toISOString();
  };
  test('ISO dates and times; no zone means UTC', () => {
    assert.equal(since('2026-03-01'), '2026-03-01T00:00:00.000Z');
    assert.equal(since('2026-03-01T12:30:00Z'), '2026-03-01T12:30:00.000Z');
    assert.equal(since('2026-03-01T12:30'), '2026-03-01T12:30:00.000Z');
    assert.equal(since('2026-03-01T12:30:00+02:00'), '2026-03-01T10:30:00.000Z');
    assert.equal(since('2026-03-01T12:30:00-0130'), '2026-03-01T14:00:00.000Z');
    assert.equal(since('2026-03-01T12:30:00.123456Z'), '2026-03-01T12:30:00.123Z');
  });
  test('ages relative to now', () => {
    assert.equal(since('90m'), '2026-06-15T10:30:00.000Z');
    assert.equal(since('24h'), '2026-06-14T12:00:00.000Z');
    assert.equal(since('7d'), '2026-06-08T12:00:00.000Z');
    assert.equal(since('2w'), '2026-06-01T12:00:00.000Z');
  });
  for (const [text, reason] of [
    ['yesterday', /neither an ISO 8601 time/],
    ['2026-02-30', /not a real date/],
    ['2026-03-01T25:00Z', /not a real date/],
    ['2027-01-01', /in the future/],
    ['1.5d', /neither/],
    ['', /neither/],
  ] as const) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      const parsed = parseSince(text, now);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.reason, reason);
    });
  }
});

test('parseRate takes positive numbers (with an optional /s) and nothing else', () => {
  assert.deepEqual(parseRate('50'), { ok: true, value: 50 });
  assert.deepEqual(parseRate('0.5'), { ok: true, value: 0.5 });
  assert.deepEqual(parseRate('20/s'), { ok: true, value: 20 });
  for (const bad of ['0', '-1', 'fast', '1e3', '', '100000']) assert.equal(parseRate(bad).ok, false, bad);
});

describe('resolveArea: the one source a URL lies in', () => {
  const env: ScannedArea[] = [
    { label: 'UNPROCESSED_BUCKET_NAME', bucket: 'unprocessed', prefix: 'incoming/', quarantine: { bucket: 'quarantine', prefix: '' } },
  ];
  const prefixOf = (areas: ScannedArea[], origin: { file?: string }, bucket: string, prefix: string) => {
    const resolved = resolveArea(areas, origin as { file: string }, bucket, prefix);
    if (!resolved.ok) throw new Error(resolved.reason);
    return resolved.value.prefix;
  };
  const reasonOf = (areas: ScannedArea[], origin: { file?: string }, bucket: string, prefix: string) => {
    const resolved = resolveArea(areas, origin as { file: string }, bucket, prefix);
    assert.equal(resolved.ok, false);
    return resolved.ok ? '' : resolved.reason;
  };

  test('narrows to the source prefix and keeps a narrower one', () => {
    assert.equal(prefixOf(env, {}, 'unprocessed', ''), 'incoming/');
    assert.equal(prefixOf(env, {}, 'unprocessed', 'inc'), 'incoming/');
    assert.equal(prefixOf(env, {}, 'unprocessed', 'incoming/abc'), 'incoming/abc');
  });

  test('the single-bucket variables keep their wording', () => {
    assert.match(reasonOf(env, {}, 'unprocessed', 'other/'), /outside UNPROCESSED_PREFIX "incoming\/"/);
    assert.match(
      reasonOf(env, {}, 'elsewhere', ''),
      /bucket "elsewhere" is not the unprocessed bucket "unprocessed" \(UNPROCESSED_BUCKET_NAME\)/,
    );
    assert.match(
      reasonOf(env, {}, 'quarantine', 'x/'),
      /^s3:\/\/quarantine\/ is the quarantine area \(QUARANTINE_BUCKET_NAME\): it is never rescanned$/,
    );
  });

  const file: ScannedArea[] = [
    { label: 'sources[0] (bucket "shared")', bucket: 'shared', prefix: 'a/', quarantine: { bucket: 'shared', prefix: 'bad/' } },
    { label: 'sources[1] (bucket "shared")', bucket: 'shared', prefix: 'b/', quarantine: { bucket: 'q', prefix: 'b/' } },
    { label: 'sources[2] (bucket "solo")', bucket: 'solo', prefix: '', quarantine: { bucket: 'q', prefix: 'solo/' } },
  ];
  const origin = { file: 'SOURCES_FILE (sources.json)' };

  test('with a sources file: the source a URL is in; its quarantine areas in the bucket are skipped', () => {
    const resolved = resolveArea(file, origin, 'shared', 'b/x');
    assert.equal(resolved.ok, true);
    if (resolved.ok) {
      assert.equal(resolved.value.area.label, 'sources[1] (bucket "shared")');
      assert.equal(resolved.value.prefix, 'b/x');
    }
    const whole = resolveArea(file, origin, 'solo', '');
    assert.equal(whole.ok && whole.value.prefix, '');
  });

  test('with a sources file: a URL spanning sources, outside them, in no source, or in a quarantine area is refused', () => {
    assert.match(
      reasonOf(file, origin, 'shared', ''),
      /^s3:\/\/shared\/ spans 2 sources \(sources\[0\].*, sources\[1\].*\): rescan each on its own, e\.g\. s3:\/\/shared\/a\/$/,
    );
    assert.match(
      reasonOf(file, origin, 'shared', 'c/'),
      /outside every source of bucket "shared" \(sources\[0\] \(bucket "shared"\): "a\/", sources\[1\] \(bucket "shared"\): "b\/"\)/,
    );
    assert.match(reasonOf(file, origin, 'nobody', ''), /bucket "nobody" is in no source of SOURCES_FILE \(sources\.json\)/);
    assert.match(
      reasonOf(file, origin, 'shared', 'bad/x'),
      /^s3:\/\/shared\/bad\/ is the quarantine area of sources\[0\] \(bucket "shared"\)/,
    );
    assert.match(reasonOf(file, origin, 'q', 'solo/'), /quarantine area of sources\[2\]/);
  });
});

test('shellQuote leaves plain words alone and quotes the rest so a shell reads them back', () => {
  assert.equal(shellQuote(`${GUID}/file.txt`), `${GUID}/file.txt`);
  assert.equal(shellQuote('a b'), `'a b'`);
  assert.equal(shellQuote(`it's`), `'it'\\''s'`);
  assert.equal(shellQuote('$(rm -rf /)'), `'$(rm -rf /)'`);
});

/** A clock whose time moves only when something sleeps. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    async sleep(ms, signal) {
      if (signal?.aborted) return;
      slept.push(ms);
      now += ms;
    },
  };
}

describe('RateLimiter', () => {
  test('holds the average rate over a long run, whatever the batch sizes', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(20, 10, clock);
    let taken = 0;
    for (const size of [10, 10, 3, 7, 10, 1, 9, 10, 10, 10]) {
      await limiter.take(size);
      taken += size;
    }
    // A full bucket (10) goes at once; the other 70 need 3.5 s at 20/s.
    assert.equal(taken, 80);
    assert.ok(Math.abs(clock.now() - 3_500) <= 10, `took ${clock.now()} ms`);
  });

  test('no stretch of time sees more than one burst plus the rate for its length (the token-bucket bound)', async () => {
    const clock = fakeClock();
    const rate = 2;
    const burst = 2;
    const limiter = new RateLimiter(rate, burst, clock);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      await limiter.take(1);
      times.push(clock.now());
    }
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j++) {
        const allowed = burst + (rate * (times[j]! - times[i]!)) / 1000;
        assert.ok(j - i + 1 <= allowed + 1e-9, `${j - i + 1} messages within ${times[j]! - times[i]!} ms`);
      }
    }
    // And it does not hold back more than it must: 20 messages at 2/s after a burst of 2.
    assert.ok(Math.abs(clock.now() - 9_000) <= 10, `took ${clock.now()} ms`);
  });

  test('an abort ends the wait at once and takes nothing', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1, 1, clock);
    await limiter.take(1);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(limiter.take(1, controller.signal), { name: 'AbortError' });
  });

  test('batch sizes: ten when the rate allows, fewer below 10/s, at least one', () => {
    assert.equal(batchSizeFor(undefined), 10);
    assert.equal(batchSizeFor(500), 10);
    assert.equal(batchSizeFor(4), 4);
    assert.equal(batchSizeFor(0.5), 1);
  });

  test('a batch larger than the burst is a programming error', async () => {
    await assert.rejects(new RateLimiter(1, 1, fakeClock()).take(2), RangeError);
  });
});

describe('decide (the event for one listed object)', () => {
  const rules: RescanRules = { bucket: 'unprocessed', prefix: '', region: 'eu-west-1' };
  const lastModified = new Date('2026-05-01T08:00:00Z');
  const object = (key: string, extra: { versionId?: string; eTag?: string } = {}) => ({
    key,
    size: 1234,
    eTag: extra.eTag ?? '"0123456789abcdef0123456789abcdef"',
    lastModified,
    ...(extra.versionId !== undefined ? { versionId: extra.versionId } : {}),
  });

  test('queues the document S3 sends, which the worker accepts as the same object', () => {
    const decision = decide(
      object(`${GUID}/report 2026 (final).pdf`, { versionId: 'v1.abc' }),
      rules,
      createSequencer(() => 0),
    );
    assert.equal(decision.kind, 'queue');
    if (decision.kind !== 'queue') return;
    const parsed = parseMessageBody(decision.body);
    assert.equal(parsed.kind, 'records');
    if (parsed.kind !== 'records') return;
    assert.equal(parsed.records.length, 1);
    const record = parsed.records[0] as Record<string, any>;
    assert.equal(record['eventVersion'], '2.1');
    assert.equal(record['eventSource'], 'aws:s3');
    assert.equal(record['eventName'], 'ObjectCreated:Put');
    assert.equal(record['awsRegion'], 'eu-west-1');
    assert.equal(record['eventTime'], lastModified.toISOString());
    assert.equal(record['s3'].configurationId, RESCAN_CONFIGURATION_ID);
    assert.equal(record['s3'].object.key, `${GUID}/report+2026+%28final%29.pdf`, 'form-encoded as S3 does');
    const check = checkRecord(record, { bucket: 'unprocessed', prefix: '' });
    assert.equal(check.ok, true);
    if (!check.ok) return;
    assert.equal(check.target.key, `${GUID}/report 2026 (final).pdf`);
    assert.equal(check.target.size, 1234);
    assert.equal(check.target.eTag, '0123456789abcdef0123456789abcdef');
    assert.equal(check.target.versionId, 'v1.abc');
  });

  test('a multipart ETag makes a CompleteMultipartUpload event; the "null" version is left out as S3 does', () => {
    const decision = decide(object(`${GUID}/big.bin`, { eTag: '"abc-12"', versionId: 'null' }), rules, createSequencer());
    assert.equal(decision.kind, 'queue');
    if (decision.kind !== 'queue') return;
    const record = (JSON.parse(decision.body) as { Records: Array<Record<string, any>> }).Records[0]!;
    assert.equal(record['eventName'], 'ObjectCreated:CompleteMultipartUpload');
    assert.equal('versionId' in record['s3'].object, false);
  });

  test('skips exactly what the worker rejects, with its reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['loose.txt', /no "<submission_guid>\/" folder/],
      ['not-a-guid/a.txt', /not a submission GUID/],
      [`${GUID}/`, /empty filename/],
      [`${GUID}/nested/a.txt`, /contains a slash/],
      [`${GUID}/line\nbreak.txt`, /control character \(U\+000A\)/],
    ];
    for (const [key, reason] of cases) {
      const decision = decide(object(key), rules, createSequencer());
      assert.equal(decision.kind, 'skip', key);
      if (decision.kind === 'skip') assert.match(decision.reason, reason);
    }
    const prefixed = decide(object(`${GUID}/a.txt`), { ...rules, prefix: 'incoming/' }, createSequencer());
    assert.equal(prefixed.kind, 'skip');
  });

  test('leaves out objects older than --since, and never queues the quarantine area', () => {
    const since = decide(object(`${GUID}/a.txt`), { ...rules, since: new Date('2026-05-01T08:00:01Z') }, createSequencer());
    assert.equal(since.kind, 'older');
    const exact = decide(object(`${GUID}/a.txt`), { ...rules, since: lastModified }, createSequencer());
    assert.equal(exact.kind, 'queue', 'modified exactly at --since counts');
    const quarantined = decide(object(`quarantine/${GUID}/a.txt`), { ...rules, quarantinePrefixes: ['quarantine/'] }, createSequencer());
    assert.equal(quarantined.kind, 'skip');
    if (quarantined.kind === 'skip') assert.match(quarantined.reason, /quarantine area/);
  });
});
