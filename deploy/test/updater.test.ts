// The definitions updater's steps (deploy/updater/*.sh): shellcheck-clean, and the
// two AWS CLI steps run for real against moto_server's S3 with the aws CLI. The
// freshclam step needs the ClamAV CDN, which cannot be reached here: shellcheck
// and the template test cover it. The third-party feeds step runs with this
// machine's freshclam against a local server standing in for the providers
// (which cannot be reached either), and its output goes through publish to moto.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PUBLISHED_DATABASES } from '../../src/signatures/set.ts';
import { startMoto, type Moto } from '../../test/support/moto.ts';
import { MIRROR_AGE_METRIC } from '../lib/mirror.ts';

const UPDATER = fileURLToPath(new URL('../updater/', import.meta.url));
const STEPS = ['restore.sh', 'freshclam.sh', 'feeds.sh', 'publish.sh'];
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

/** The same as run(), without blocking this process: a server in it (a stand-in feed provider) must answer meanwhile. */
function runAsync(step: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [join(UPDATER, step)], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(guard);
      resolve({ status, stdout, stderr });
    });
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

// The scanning tasks' clamd container runs it (bash), with the feeds and the set this deployment gives.
test("the clamd image's entrypoint passes shellcheck", () => {
  const entrypoint = fileURLToPath(new URL('../../images/clamd/entrypoint.sh', import.meta.url));
  const result = spawnSync('shellcheck', ['--severity=style', entrypoint], { encoding: 'utf8' });
  assert.ifError(result.error);
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

/** A stand-in for a feed provider: serves the given files, counting requests per file. */
async function provider(
  files: Record<string, string>,
): Promise<{ url: (name: string) => string; requests: Map<string, number>; close(): Promise<void> }> {
  const requests = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const name = (request.url ?? '').slice(1);
    requests.set(name, (requests.get(name) ?? 0) + 1);
    const body = files[name];
    if (body === undefined) response.writeHead(404).end();
    else response.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test('feeds: freshclam fetches and tests each file; a broken one is not kept; none is asked again within its interval', async () => {
  const files: Record<string, string> = {
    'good.ndb': 'Feed.Test.Good-1:0:*:414243444546\n',
    'broken.ndb': 'Feed.Test.Broken-1:0:*:ZZ\n',
    'list.hdb': `${'0'.repeat(32)}:10:Feed.Test.Hash-1\n`,
  };
  const served = await provider(files);
  try {
    const database = tempDir();
    const feeds = join(database, 'feeds');
    const FEEDS = [`${served.url('good.ndb')} 3600`, `${served.url('broken.ndb')} 3600`, `${served.url('list.hdb')} 60`].join('\n');
    const first = await runAsync('feeds.sh', { FEEDS, FEEDS_DIR: feeds });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /feeds: broken\.ndb could not be updated .*its last good copy is kept/);
    assert.ok(existsSync(join(feeds, 'good.ndb')) && existsSync(join(feeds, 'list.hdb')), readdirSync(feeds).join(', '));
    assert.equal(existsSync(join(feeds, 'broken.ndb')), false, 'a file clamd cannot load is not kept');
    assert.deepEqual(Object.fromEntries(served.requests), { 'good.ndb': 1, 'broken.ndb': 1, 'list.hdb': 1 });

    // A good file turning bad upstream: the good copy stays.
    files['good.ndb'] = 'Feed.Test.Good-1:0:*:NOTHEX\n';
    const again = await runAsync('feeds.sh', { FEEDS, FEEDS_DIR: feeds });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /good\.ndb was asked for less than 3600 s ago: not asked again yet/);
    assert.equal(served.requests.get('good.ndb'), 1, 'within its interval, not asked');
    // Past its interval (the stamp made older), it is asked, refused, and the last good copy kept.
    const old = new Date(Date.now() - 7200_000);
    const { utimesSync } = await import('node:fs');
    utimesSync(join(feeds, '.fetched-good.ndb'), old, old);
    const later = await runAsync('feeds.sh', { FEEDS, FEEDS_DIR: feeds });
    assert.equal(later.status, 0, later.stderr);
    assert.equal(served.requests.get('good.ndb'), 2);
    assert.match(readFileSync(join(feeds, 'good.ndb'), 'utf8'), /414243444546/, 'the last good copy');

    // What publish sends to the mirror: the tested files and the request times, not freshclam's scratch.
    writeFileSync(join(database, 'daily.cvd'), cvd(new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3600_000), 27600));
    const published = run('publish.sh', { DATABASE_DIR: database, METRICS_NAMESPACE: 'bucketscan/Test' });
    assert.equal(published.status, 0, published.stderr);
    const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'feeds/' }));
    assert.deepEqual(Contents.map((c) => c.Key).sort(), [
      'feeds/.fetched-broken.ndb',
      'feeds/.fetched-good.ndb',
      'feeds/.fetched-list.hdb',
      'feeds/good.ndb',
      'feeds/list.hdb',
    ]);
  } finally {
    await served.close();
  }
});

test('feeds: without FEEDS the step does nothing', () => {
  const database = tempDir();
  const result = run('feeds.sh', { FEEDS: '', FEEDS_DIR: join(database, 'feeds') });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(existsSync(join(database, 'feeds')), false);
});

test('publish makes the detection set whole (an empty file for each one missing, never over a published one) and writes the memory limits', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'mirror-set' }));
  await s3.send(
    new PutObjectCommand({ Bucket: 'mirror-set', Key: 'custom/bucketscan-custom.ndb', Body: 'Custom.Published-1:0:*:41424344\n' }),
  );
  const database = tempDir();
  writeFileSync(join(database, 'daily.cvd'), cvd(new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3600_000), 27601));
  mkdirSync(join(database, 'feeds'));
  const env = {
    DATABASE_DIR: database,
    METRICS_NAMESPACE: 'bucketscan/Test',
    MIRROR_BUCKET: 'mirror-set',
    CUSTOM_DATABASE_FILES: PUBLISHED_DATABASES.join(' '),
    DATABASE_MEMORY_MIB: '2560',
    CLAMD_MEMORY_MIB: '3584',
  };
  const result = run('publish.sh', env);
  assert.equal(result.status, 0, result.stderr);
  assert.ok(result.stdout.trim().split('\n').at(-1)!.includes('CloudWatchMetrics'), 'the metric line stays last');
  const text = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: 'mirror-set', Key: key }))).Body!.transformToString();
  assert.equal(await text('custom/bucketscan-custom.ndb'), 'Custom.Published-1:0:*:41424344\n', 'a published file is never replaced');
  for (const name of PUBLISHED_DATABASES.filter((n) => n !== 'bucketscan-custom.ndb')) {
    assert.match(await text(`custom/${name}`), /^(#|\/\/) nothing published yet/, name);
  }
  assert.deepEqual(JSON.parse(await text('custom/bucketscan-limits.json')), {
    format: 'bucketscan-limits',
    databaseMemoryMiB: 2560,
    clamdMemoryMiB: 3584,
  });
  // Run again: nothing to add, nothing overwritten.
  const again = run('publish.sh', env);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /was missing/);
});

test('a step without its bucket stops at once, naming the variable', () => {
  const result = run('restore.sh', { MIRROR_BUCKET: '' });
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /MIRROR_BUCKET must name the mirror bucket/);
});
