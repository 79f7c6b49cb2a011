// The definitions updater's steps (deploy/updater/*.sh): shellcheck-clean, and the
// two AWS CLI steps run for real against moto_server's S3 with the aws CLI. The
// freshclam step needs the ClamAV CDN, which cannot be reached here: shellcheck
// and the template test cover it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startMoto, type Moto } from '../../test/support/moto.ts';
import { MIRROR_AGE_METRIC } from '../lib/mirror.ts';

const UPDATER = fileURLToPath(new URL('../updater/', import.meta.url));
const STEPS = ['restore.sh', 'freshclam.sh', 'publish.sh'];
const BUCKET = 'mirror';
let moto: Moto;
let s3: S3Client;
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-updater-'));
  dirs.push(dir);
  return dir;
}

/** A .cvd as far as the scripts read one: the 512-byte header, then a body. */
function cvd(builtAt: Date, version: number): Buffer {
  const day = String(builtAt.getUTCDate()).padStart(2, '0');
  const month = builtAt.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const time = `${String(builtAt.getUTCHours()).padStart(2, '0')}-${String(builtAt.getUTCMinutes()).padStart(2, '0')}`;
  const header = `ClamAV-VDB:${day} ${month} ${builtAt.getUTCFullYear()} ${time} +0000:${version}:2000000:90:signature:builder:${Math.floor(builtAt.getTime() / 1000)}`;
  return Buffer.concat([Buffer.from(header.padEnd(512, ' ')), Buffer.from('body')]);
}

function run(step: string, env: Record<string, string>) {
  return spawnSync('sh', [join(UPDATER, step)], {
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/root',
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_DEFAULT_REGION: 'us-east-1',
      MIRROR_BUCKET: BUCKET,
      ...env,
    },
    timeout: 120_000,
  });
}

before(async () => {
  moto = await startMoto();
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

after(async () => {
  s3?.destroy();
  await moto?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('every step passes shellcheck (POSIX sh)', () => {
  const result = spawnSync('shellcheck', ['--shell=sh', '--severity=style', ...STEPS.map((s) => join(UPDATER, s))], { encoding: 'utf8' });
  if (result.error) throw new Error(`shellcheck could not be run (${result.error.message}): apt-get install shellcheck`);
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('publish copies the signed databases and freshclam.dat to the mirror, and reports the daily database age as EMF', () => {
  const database = tempDir();
  const built = new Date(Math.floor((Date.now() - 3 * 3600_000) / 60_000) * 60_000);
  writeFileSync(join(database, 'daily.cvd'), cvd(built, 27500));
  writeFileSync(join(database, 'main.cvd'), cvd(built, 62));
  writeFileSync(join(database, 'freshclam.dat'), 'state');
  writeFileSync(join(database, 'daily.cld'), 'an unsigned database must not be served');
  writeFileSync(join(database, 'tmp-1234'), 'scratch');
  const before = Math.floor(Date.now() / 1000);
  const result = run('publish.sh', { DATABASE_DIR: database, METRICS_NAMESPACE: 'bucketscan/Test' });
  const afterRun = Math.floor(Date.now() / 1000);
  assert.equal(result.status, 0, result.stderr);
  const line = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(line._aws.CloudWatchMetrics, [
    { Namespace: 'bucketscan/Test', Dimensions: [[]], Metrics: [{ Name: MIRROR_AGE_METRIC, Unit: 'Seconds' }] },
  ]);
  const builtSeconds = built.getTime() / 1000;
  assert.ok(line[MIRROR_AGE_METRIC] >= before - builtSeconds && line[MIRROR_AGE_METRIC] <= afterRun - builtSeconds, JSON.stringify(line));
  assert.equal(line.version, '27500');
  return s3.send(new ListObjectsV2Command({ Bucket: BUCKET })).then(({ Contents = [] }) => {
    assert.deepEqual(Contents.map((c) => c.Key).sort(), ['daily.cvd', 'freshclam.dat', 'main.cvd']);
  });
});

test('publish fails, saying why, when the daily database has no readable build time, and publishes nothing', async () => {
  const database = tempDir();
  writeFileSync(join(database, 'daily.cvd'), Buffer.from('not a database'));
  await s3.send(new CreateBucketCommand({ Bucket: 'mirror-untouched' }));
  const result = run('publish.sh', { DATABASE_DIR: database, METRICS_NAMESPACE: 'bucketscan/Test', MIRROR_BUCKET: 'mirror-untouched' });
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /publish: cannot read the build time of .*daily\.cvd/);
  assert.doesNotMatch(result.stdout, /CloudWatchMetrics/, 'no age is reported');
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'mirror-untouched' }))).KeyCount ?? 0, 0);
});

test('restore brings the mirror into the shared volume, writable by the next step', () => {
  const database = tempDir();
  chmodSync(database, 0o700);
  const result = run('restore.sh', { DATABASE_DIR: database });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(readdirSync(database).sort(), ['daily.cvd', 'freshclam.dat', 'main.cvd']);
  assert.equal(statSync(join(database, 'daily.cvd')).mode & 0o666, 0o666, 'freshclam (another user) may replace the files');
});

test('a step without its bucket stops at once, naming the variable', () => {
  const result = run('restore.sh', { MIRROR_BUCKET: '' });
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /MIRROR_BUCKET must name the mirror bucket/);
});
