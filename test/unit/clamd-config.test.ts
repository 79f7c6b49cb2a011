// clamd.conf has one source, src/local/clamd-config.ts. The clamd image has no Node,
// so its entrypoint carries a generated copy (scripts/clamd-config.ts): here the copy
// must be fresh, and the entrypoint, run with bash on this machine, must print
// exactly what renderClamdConfig renders for the same settings, and refuse what it
// refuses. (make test-image checks the same inside the image.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ENTRYPOINT, withFreshBlock } from '../../scripts/clamd-config.ts';
import { renderClamdConfig } from '../../src/local/clamd-config.ts';
import { PUBLISHED_DATABASES } from '../../src/signatures/set.ts';
import { CLAMD_IMAGE_CASES, imageClamdConfig } from '../support/clamd-image-config.ts';

const MiB = 1024 * 1024;

/** `clamd-entrypoint print-config` with only these variables set. */
function printConfig(env: Record<string, string>) {
  return spawnSync('bash', [ENTRYPOINT, 'print-config'], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
}

test('the generated block of images/clamd/entrypoint.sh is fresh (npm run clamd-config rewrites it)', () => {
  const script = readFileSync(ENTRYPOINT, 'utf8');
  const fresh = withFreshBlock(script);
  const line = fresh.split('\n').findIndex((text, i) => text !== script.split('\n')[i]);
  assert.ok(
    script === fresh,
    `images/clamd/entrypoint.sh differs from src/local/clamd-config.ts at line ${line + 1}:\n` +
      `  entrypoint: ${JSON.stringify(script.split('\n')[line])}\n  generated:  ${JSON.stringify(fresh.split('\n')[line])}\n` +
      'Change src/local/clamd-config.ts, not the generated block, and run npm run clamd-config.',
  );
});

describe("the entrypoint's clamd.conf is renderClamdConfig's", () => {
  for (const { env, ...settings } of CLAMD_IMAGE_CASES) {
    test(JSON.stringify(env), () => {
      const result = printConfig(env);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, imageClamdConfig(settings));
    });
  }

  test('CLAMD_MAX_SCAN_TIME_MS above ReadTimeout raises ReadTimeout', () => {
    const result = printConfig({ CLAMD_MAX_SCAN_TIME_MS: '300001' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, imageClamdConfig({ streamMaxBytes: 100 * MiB, maxThreads: 10, limits: { maxScanTimeMs: 300_001 } }));
    assert.match(result.stdout, /^ReadTimeout 331$/m);
  });

  test('CLAMD_TCP_ADDR and CLAMD_TCP_PORT', () => {
    const result = printConfig({ CLAMD_TCP_ADDR: '0.0.0.0', CLAMD_TCP_PORT: '3311' });
    assert.equal(result.status, 0, result.stderr);
    const expected = imageClamdConfig({ streamMaxBytes: 100 * MiB, maxThreads: 10 });
    assert.equal(result.stdout, expected.replace('TCPSocket 3310\nTCPAddr 127.0.0.1\n', 'TCPSocket 3311\nTCPAddr 0.0.0.0\n'));
  });

  test('both refuse limits that would let a zip member pass cut short, and streams past 2047 MiB', () => {
    const tooClose = printConfig({ CLAMD_MAX_SCAN_SIZE_MB: '50', CLAMD_MAX_FILE_SIZE_MB: '50' });
    assert.equal(tooClose.status, 2);
    assert.match(tooClose.stderr, /^clamd-entrypoint: configuration error: CLAMD_MAX_FILE_SIZE_MB: must be above MaxScanSize/);
    assert.throws(
      () => imageClamdConfig({ streamMaxBytes: 100 * MiB, maxThreads: 10, limits: { maxScanSize: 50 * MiB, maxFileSize: 50 * MiB } }),
      /maxScanSize/,
    );

    const tooLong = printConfig({ CLAMD_STREAM_MAX_LENGTH_MB: '2048' });
    assert.equal(tooLong.status, 2);
    assert.match(tooLong.stderr, /^clamd-entrypoint: configuration error: CLAMD_STREAM_MAX_LENGTH_MB: /);
    assert.throws(() => imageClamdConfig({ streamMaxBytes: 2048 * MiB, maxThreads: 10 }), RangeError);
  });
});

describe("the entrypoint's freshclam.conf: the detection set (FRESHCLAM_CUSTOM_DATABASES_URL)", () => {
  const freshclamConfig = (env: Record<string, string>) =>
    spawnSync('bash', [ENTRYPOINT, 'print-freshclam-config'], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
  const lines = (text: string, option: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${option} `))
      .map((line) => line.slice(option.length + 1));

  test('one DatabaseCustomURL per file of a set, the same list bucketscan publishes', () => {
    const result = freshclamConfig({ FRESHCLAM_CUSTOM_DATABASES_URL: ' https://mirror.s3.eu-west-1.amazonaws.com/custom ' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      lines(result.stdout, 'DatabaseCustomURL'),
      PUBLISHED_DATABASES.map((name) => `https://mirror.s3.eu-west-1.amazonaws.com/custom/${name}`),
    );
    assert.deepEqual(lines(result.stdout, 'ExcludeDatabase'), [], 'the official database is fetched too');
    assert.deepEqual(lines(freshclamConfig({}).stdout, 'DatabaseCustomURL'), []);
  });

  test('FRESHCLAM=custom fetches the set only (the official database is mounted)', () => {
    const result = freshclamConfig({ FRESHCLAM: 'custom', FRESHCLAM_CUSTOM_DATABASES_URL: 'http://127.0.0.1:8080/set/' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(lines(result.stdout, 'ExcludeDatabase'), ['daily', 'main', 'bytecode']);
    assert.equal(lines(result.stdout, 'DatabaseCustomURL').length, PUBLISHED_DATABASES.length);
  });

  test('third-party feeds come after the set, from the folder that mirrors them', () => {
    const result = freshclamConfig({
      FRESHCLAM_CUSTOM_DATABASES_URL: 'https://mirror/custom/',
      FRESHCLAM_FEEDS_URL: 'https://mirror/feeds',
      FRESHCLAM_FEEDS: ' junk.ndb  urlhaus.ndb sigwhitelist.ign2 ',
    });
    assert.equal(result.status, 0, result.stderr);
    const urls = lines(result.stdout, 'DatabaseCustomURL');
    assert.deepEqual(urls.slice(PUBLISHED_DATABASES.length), [
      'https://mirror/feeds/junk.ndb',
      'https://mirror/feeds/urlhaus.ndb',
      'https://mirror/feeds/sigwhitelist.ign2',
    ]);
    for (const [env, message] of [
      [{ FRESHCLAM_FEEDS: 'junk.ndb' }, /FRESHCLAM_FEEDS_URL: must be the http\(s\) URL/],
      [{ FRESHCLAM_FEEDS: '../x.ndb', FRESHCLAM_FEEDS_URL: 'https://m/f/' }, /FRESHCLAM_FEEDS: "\.\.\/x\.ndb" is not the file name/],
      [{ FRESHCLAM_FEEDS: 'notes.txt', FRESHCLAM_FEEDS_URL: 'https://m/f/' }, /is not the file name of a ClamAV database/],
    ] as const) {
      const refused = freshclamConfig(env);
      assert.equal(refused.status, 2);
      assert.match(refused.stderr, message);
    }
  });

  test('refused: a URL that is not one, a set with freshclam off, custom with nothing to fetch', () => {
    for (const [env, message] of [
      [{ FRESHCLAM_CUSTOM_DATABASES_URL: 's3://mirror/custom/' }, /FRESHCLAM_CUSTOM_DATABASES_URL: must be the http\(s\) URL of a folder/],
      [{ FRESHCLAM_CUSTOM_DATABASES_URL: 'https://x/custom/\nPrivateMirror evil' }, /FRESHCLAM_CUSTOM_DATABASES_URL: must be/],
      [{ FRESHCLAM: 'off', FRESHCLAM_CUSTOM_DATABASES_URL: 'https://x/custom/' }, /is set but FRESHCLAM is off/],
      [{ FRESHCLAM: 'custom' }, /FRESHCLAM: is custom but FRESHCLAM_CUSTOM_DATABASES_URL is not set/],
    ] as const) {
      const result = freshclamConfig(env);
      assert.equal(result.status, 2, JSON.stringify(env));
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, message);
    }
  });
});

describe('renderClamdConfig', () => {
  const base = {
    address: { kind: 'tcp', host: '127.0.0.1', port: 3310 },
    databaseDir: '/work/db',
    temporaryDir: '/work/tmp',
    streamMaxBytes: 100 * MiB,
    maxThreads: 4,
  } as const;
  const options = (config: string) =>
    new Map(
      config
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as const),
    );

  test('never lets a limit or encryption pass silently as clean', () => {
    const config = options(renderClamdConfig(base));
    for (const option of ['AlertExceedsMax', 'AlertEncrypted', 'AlertEncryptedArchive', 'AlertEncryptedDoc', 'Foreground']) {
      assert.equal(config.get(option), 'yes', option);
    }
    assert.equal(config.has('User'), false);
  });

  test('keeps ReadTimeout above MaxScanTime, so a long scan in a session is not cut off', () => {
    // clamd's default, 120 s, with the default 90 s MaxScanTime.
    assert.equal(options(renderClamdConfig(base)).get('ReadTimeout'), '120');
    // A scan allowed an hour (the benchmark's 1 GiB objects) keeps its session an hour and 30 s.
    const long = options(renderClamdConfig({ ...base, limits: { maxScanTimeMs: 3_600_000 } }));
    assert.equal(long.get('ReadTimeout'), '3630');
    assert.equal(options(renderClamdConfig({ ...base, limits: { maxScanTimeMs: 100_001 } })).get('ReadTimeout'), '131');
  });

  test('derives the scan limits from the stream limit', () => {
    const config = options(renderClamdConfig(base));
    assert.equal(config.get('StreamMaxLength'), String(100 * MiB));
    assert.equal(config.get('MaxScanSize'), String(400 * MiB));
    // Above MaxScanSize, so that a zip member clamd silently cuts to MaxFileSize trips MaxScanSize.
    assert.equal(config.get('MaxFileSize'), String(400 * MiB + 64 * 1024));
    assert.equal(config.get('PCREMaxFileSize'), config.get('MaxFileSize'));
    assert.equal(config.get('MaxFiles'), '10000');
    assert.equal(config.get('MaxRecursion'), '17');
    assert.equal(config.get('MaxScanTime'), '90000');
    assert.equal(config.get('HeuristicScanPrecedence'), 'no');
    assert.equal(config.get('TCPAddr'), '127.0.0.1');
    assert.equal(config.get('TCPSocket'), '3310');

    // The largest MAX_FILE_SIZE (2047 MB): libclamav scans nothing of 2 GB or more.
    const largest = options(renderClamdConfig({ ...base, streamMaxBytes: 2047 * MiB }));
    assert.equal(largest.get('MaxFileSize'), '2147483645');
    assert.equal(largest.get('MaxScanSize'), String(2147483645 - 64 * 1024));
    assert.ok(Number(largest.get('MaxScanSize')) >= 2047 * MiB);
    assert.throws(() => renderClamdConfig({ ...base, streamMaxBytes: 2048 * MiB }), RangeError);
  });

  test('takes explicit limits, but never a MaxFileSize that would let a zip member be cut silently', () => {
    const config = options(renderClamdConfig({ ...base, limits: { maxFiles: 50, maxRecursion: 5, maxScanTimeMs: 1000 } }));
    assert.equal(config.get('MaxFiles'), '50');
    assert.equal(config.get('MaxRecursion'), '5');
    assert.equal(config.get('MaxScanTime'), '1000');
    assert.equal(config.get('MaxScanSize'), String(400 * MiB));
    const sizes = options(renderClamdConfig({ ...base, limits: { maxScanSize: 10 * MiB, maxFileSize: 11 * MiB } }));
    assert.equal(sizes.get('MaxScanSize'), String(10 * MiB));
    assert.equal(sizes.get('MaxFileSize'), String(11 * MiB));
    assert.throws(() => renderClamdConfig({ ...base, limits: { maxFileSize: 100 * MiB } }), /maxScanSize/);
    assert.throws(() => renderClamdConfig({ ...base, limits: { maxScanSize: 10 * MiB, maxFileSize: 10 * MiB } }), /maxScanSize/);
    // 0 disables a limit in clamd.
    for (const limit of ['maxFiles', 'maxRecursion', 'maxScanTimeMs', 'maxScanSize', 'maxFileSize']) {
      assert.throws(() => renderClamdConfig({ ...base, limits: { [limit]: 0 } }), RangeError, limit);
    }
  });

  test('a unix socket replaces TCP', () => {
    const config = options(renderClamdConfig({ ...base, address: { kind: 'socket', path: '/run/clamd.sock' } }));
    assert.equal(config.get('LocalSocket'), '/run/clamd.sock');
    assert.equal(config.has('TCPSocket'), false);
  });

  test('refuses values clamd would misread', () => {
    assert.throws(() => renderClamdConfig({ ...base, databaseDir: '/work/my db' }), /no spaces/);
    assert.throws(() => renderClamdConfig({ ...base, temporaryDir: '/tmp\nUser nobody' }), /no spaces/);
    assert.throws(() => renderClamdConfig({ ...base, streamMaxBytes: 0 }), RangeError);
    assert.throws(() => renderClamdConfig({ ...base, address: { kind: 'socket', path: `/${'x'.repeat(120)}` } }), /107 bytes/);
  });
});
