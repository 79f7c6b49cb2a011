// `bucketscan scan` run as a user runs it: a separate process, against a real clamd
// (the project's test signatures, small scan limits so hostile files are cheap to
// build) and the S3 emulator over HTTP. Each test checks the exact stdout lines and
// the exit code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startEmulator, type Emulator } from '../../src/local/emulator.ts';
import { freePort } from '../../src/local/free-port.ts';
import { createLogger } from '../../src/log/logger.ts';
import { deflatedZeros, eicar, EICAR_SIGNATURE, encrypted, stored, zip } from '../support/samples.ts';
import { RESOURCES, startTestClamd } from '../support/stack.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src', 'cli.ts');
const MiB = 1024 * 1024;
const BUCKET = RESOURCES.unprocessedBucket;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a CLI to completion without blocking this process (the emulator answers from it). */
function run(args: string[], options: { env: Record<string, string>; cwd: string; input?: Buffer; entry?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.entry ?? cli, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env['PATH'] ?? '', BUCKETSCAN_ENV_FILE: 'none', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    // A guard against a hang, not an assertion about speed.
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** stderr may hold the test-signatures warning (no official database here), and nothing else. */
function assertQuietStderr(stderr: string): void {
  const lines = stderr.split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, /^bucketscan: warning: clamd at .* has no official ClamAV database/, stderr);
}

/** A usage or configuration error: nothing on stdout, one line on stderr, exit 2. */
function assertOneLineError(result: Run, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\bat .*\.(ts|js):\d+/, 'no stack trace');
}

describe('bucketscan scan', () => {
  let clamd: Awaited<ReturnType<typeof startTestClamd>>;
  let emulator: Emulator;
  let s3: S3Client;
  let dir: string;
  let env: Record<string, string>;
  const prefix = randomUUID();
  let protectedZipBytes = 0;

  before(async () => {
    // StreamMaxLength 1 MiB, so MaxScanSize 4 MiB; MaxFiles 50, MaxRecursion 5.
    clamd = await startTestClamd({ maxFileSizeMb: 1, limits: { maxFiles: 50, maxRecursion: 5 } });
    emulator = await startEmulator({ port: 0, resources: RESOURCES, logger: createLogger('warn', 'emulator'), notifications: false });
    s3 = new S3Client({
      region: RESOURCES.region,
      endpoint: emulator.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const address = clamd.clamd.address;
    assert.equal(address.kind, 'tcp');
    env = {
      CLAMD_HOST: address.host,
      CLAMD_PORT: String(address.port),
      AWS_REGION: RESOURCES.region,
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // 4 MB: above clamd's 1 MiB stream limit, so both limits can be reached.
      MAX_FILE_SIZE: '4',
    };

    // Everything hostile is built now and written to a temporary directory: the
    // EICAR string is never stored in the repository.
    dir = mkdtempSync(join(tmpdir(), 'bucketscan-scan-'));
    writeFileSync(join(dir, 'clean.txt'), 'just some text\n');
    writeFileSync(join(dir, 'eicar.com'), eicar());
    writeFileSync(join(dir, 'bomb.zip'), zip([await deflatedZeros('zeros.bin', 64 * MiB)]));
    const protectedZip = zip([encrypted(stored('eicar.com', eicar()), `pw-${randomUUID()}`)]);
    writeFileSync(join(dir, 'protected.zip'), protectedZip);
    protectedZipBytes = protectedZip.length;
    writeFileSync(join(dir, 'huge.bin'), Buffer.alloc(5 * MiB, 0x5a));
    mkdirSync(join(dir, 'folder'));

    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/clean file.txt`, Body: 'clean in S3\n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/eicar.com`, Body: eicar() }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/protected.zip`, Body: protectedZip }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/huge.bin`, Body: Buffer.alloc(5 * MiB, 0x5a) }));
  });

  after(async () => {
    s3?.destroy();
    await emulator?.stop();
    await clamd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const scan = (args: string[], extra: { env?: Record<string, string>; input?: Buffer; entry?: string } = {}) =>
    run(['scan', ...args], {
      env: { ...env, ...extra.env },
      cwd: dir,
      ...(extra.input ? { input: extra.input } : {}),
      ...(extra.entry ? { entry: extra.entry } : {}),
    });

  test('a clean file: OK, exit 0', async () => {
    const result = await scan(['clean.txt']);
    assert.equal(result.stdout, 'clean.txt: OK\n');
    assert.equal(result.code, 0);
    assertQuietStderr(result.stderr);
  });

  test('the EICAR file: FOUND with its signature, exit 1', async () => {
    const result = await scan(['eicar.com']);
    assert.equal(result.stdout, `eicar.com: ${EICAR_SIGNATURE} FOUND\n`);
    assert.equal(result.code, 1);
    assertQuietStderr(result.stderr);
  });

  test('EICAR and a clean file in S3, streamed with GetObject', async () => {
    const result = await scan([`s3://${BUCKET}/${prefix}/clean file.txt`, `s3://${BUCKET}/${prefix}/eicar.com`]);
    assert.equal(
      result.stdout,
      `s3://${BUCKET}/${prefix}/clean file.txt: OK\ns3://${BUCKET}/${prefix}/eicar.com: ${EICAR_SIGNATURE} FOUND\n`,
    );
    assert.equal(result.code, 1);
    assertQuietStderr(result.stderr);
  });

  test('stdin with -', async () => {
    const infected = await scan(['-'], { input: eicar() });
    assert.equal(infected.stdout, `stdin: ${EICAR_SIGNATURE} FOUND\n`);
    assert.equal(infected.code, 1);
    const clean = await scan(['-'], { input: Buffer.from('nothing to see\n') });
    assert.equal(clean.stdout, 'stdin: OK\n');
    assert.equal(clean.code, 0);
  });

  test('files clamd cannot fully scan: UNSCANNABLE with what was not scanned, exit 1', async () => {
    const result = await scan([
      'bomb.zip',
      'protected.zip',
      `s3://${BUCKET}/${prefix}/protected.zip`,
      'huge.bin',
      `s3://${BUCKET}/${prefix}/huge.bin`,
      'clean.txt',
    ]);
    assert.equal(
      result.stdout,
      [
        "bomb.zip: it unpacks to more data than clamd's MaxScanSize (Heuristics.Limits.Exceeded.MaxScanSize) UNSCANNABLE",
        'protected.zip: encrypted Zip content that clamd cannot open (Heuristics.Encrypted.Zip) UNSCANNABLE',
        `s3://${BUCKET}/${prefix}/protected.zip: encrypted Zip content that clamd cannot open (Heuristics.Encrypted.Zip) UNSCANNABLE`,
        // Over MAX_FILE_SIZE: refused before clamd, as the worker refuses it (TOO_LARGE).
        'huge.bin: larger than MAX_FILE_SIZE (5242880 bytes; the limit is 4194304) UNSCANNABLE',
        `s3://${BUCKET}/${prefix}/huge.bin: larger than MAX_FILE_SIZE (5242880 bytes; the limit is 4194304) UNSCANNABLE`,
        'clean.txt: OK',
        '',
      ].join('\n'),
    );
    assert.equal(result.code, 1);
  });

  test("stdin longer than clamd's StreamMaxLength, and longer than MAX_FILE_SIZE", async () => {
    const overStream = await scan(['-'], { input: Buffer.alloc(2 * MiB, 0x5a) });
    assert.equal(overStream.stdout, "stdin: the file is larger than clamd's StreamMaxLength UNSCANNABLE\n");
    assert.equal(overStream.code, 1);
    // MAX_FILE_SIZE below clamd's limit: the stream is cut off at MAX_FILE_SIZE.
    const overMax = await scan(['-'], { input: Buffer.alloc(MiB / 2, 0x5a), env: { MAX_FILE_SIZE: '0.25' } });
    assert.equal(overMax.stdout, 'stdin: longer than MAX_FILE_SIZE (more than 262144 bytes) UNSCANNABLE\n');
    assert.equal(overMax.code, 1);
  });

  test('--json: one object per line with every field', async () => {
    const result = await scan(['--json', 'clean.txt', `s3://${BUCKET}/${prefix}/eicar.com`, 'protected.zip', 'missing.txt']);
    const lines = result.stdout.split('\n');
    assert.equal(lines.pop(), '');
    const common = {
      signature: null,
      signatureOrigin: null,
      reason: null,
      detail: null,
      bucket: null,
      key: null,
      versionId: null,
      eTag: null,
    };
    assert.deepEqual(
      lines.map((line) => JSON.parse(line) as unknown),
      [
        { ...common, target: 'clean.txt', kind: 'file', status: 'CLEAN', bytes: 15 },
        {
          ...common,
          target: `s3://${BUCKET}/${prefix}/eicar.com`,
          kind: 's3',
          status: 'INFECTED',
          signature: EICAR_SIGNATURE,
          // The project's test signatures are unsigned and not custom.
          signatureOrigin: 'third-party',
          bytes: 68,
          bucket: BUCKET,
          key: `${prefix}/eicar.com`,
          eTag: createHash('md5').update(eicar()).digest('hex'),
        },
        {
          ...common,
          target: 'protected.zip',
          kind: 'file',
          status: 'UNSCANNABLE',
          signature: 'Heuristics.Encrypted.Zip',
          signatureOrigin: 'clamav',
          reason: 'encrypted',
          detail: 'encrypted Zip content that clamd cannot open',
          bytes: protectedZipBytes,
        },
        { ...common, target: 'missing.txt', kind: 'file', status: 'ERROR', detail: 'no such file', bytes: null },
      ],
    );
    assert.equal(result.code, 2);
  });

  test('ERROR lines: missing file, a directory, a read failure, missing key and bucket; ERROR wins the exit code', async () => {
    const result = await scan([
      'eicar.com',
      'missing.txt',
      'folder',
      // Opens, then every read fails (EIO): a file that cannot be read.
      '/proc/self/mem',
      `s3://${BUCKET}/${prefix}/no-such-key`,
      's3://no-such-bucket-bucketscan/key',
      'clean.txt',
    ]);
    assert.equal(
      result.stdout,
      [
        `eicar.com: ${EICAR_SIGNATURE} FOUND`,
        'missing.txt: ERROR no such file',
        'folder: ERROR is a directory (scan takes files; name the files in it)',
        '/proc/self/mem: ERROR could not read the file: EIO',
        `s3://${BUCKET}/${prefix}/no-such-key: ERROR no such key (NoSuchKey)`,
        's3://no-such-bucket-bucketscan/key: ERROR no such bucket (NoSuchBucket)',
        'clean.txt: OK',
        '',
      ].join('\n'),
    );
    assert.equal(result.code, 2, 'an ERROR makes it 2 even though something was FOUND');
    assertQuietStderr(result.stderr);
  });

  test('clamd down: one ERROR line per target, nothing opened, exit 2', async () => {
    const port = await freePort(); // nothing listens there
    const result = await scan(['eicar.com', 'missing.txt', `s3://${BUCKET}/${prefix}/eicar.com`], { env: { CLAMD_PORT: String(port) } });
    const why = `ERROR could not connect to clamd at 127.0.0.1:${port}: ECONNREFUSED`;
    assert.equal(result.stdout, `eicar.com: ${why}\nmissing.txt: ${why}\ns3://${BUCKET}/${prefix}/eicar.com: ${why}\n`);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, '');
  });

  test('bad arguments: one line on stderr, exit 2, nothing scanned', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /^bucketscan: scan: nothing to scan: give files, s3:\/\/bucket\/key URLs, or - for stdin$/],
      [['s3://'], /^bucketscan: scan: s3:\/\/: no bucket name \(expected s3:\/\/<bucket>\/<key>\)$/],
      [['s3://bucket'], /^bucketscan: scan: s3:\/\/bucket: no object key \(expected s3:\/\/<bucket>\/<key>\)$/],
      [['s3://bucket/'], /^bucketscan: scan: s3:\/\/bucket\/: no object key/],
      [['eicar.com', 's3://Not_A_Bucket/key'], /^bucketscan: scan: s3:\/\/Not_A_Bucket\/key: invalid bucket name "Not_A_Bucket": /],
      [['s3:/bucket/key'], /^bucketscan: scan: s3:\/bucket\/key: an S3 URL starts with s3:\/\//],
      [['-', '-'], /^bucketscan: scan: stdin \(-\) can be scanned only once$/],
      [['--jsno', 'eicar.com'], /^bucketscan: scan: unknown option "--jsno" \(options: --json, --help\)$/],
      [['--json=yes', 'eicar.com'], /^bucketscan: scan: --json takes no value/],
    ];
    for (const [args, pattern] of cases) assertOneLineError(await scan(args), pattern);
  });

  test('a bad setting: one line naming the variable, exit 2, nothing scanned', async () => {
    assertOneLineError(
      await scan([`s3://${BUCKET}/${prefix}/eicar.com`], { env: { AWS_REGION: '' } }),
      /^bucketscan: configuration error: AWS_REGION: is required but not set/,
    );
    assertOneLineError(await scan(['eicar.com'], { env: { MAX_FILE_SIZE: 'lots' } }), /^bucketscan: configuration error: MAX_FILE_SIZE: /);
    // Local files need no AWS settings at all.
    const local = await scan(['eicar.com'], {
      env: { AWS_REGION: '', AWS_ENDPOINT_URL: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
    });
    assert.equal(local.stdout, `eicar.com: ${EICAR_SIGNATURE} FOUND\n`);
    assert.equal(local.code, 1);
  });

  test('--help describes the command, exit 0', async () => {
    const result = await scan(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: bucketscan scan \[--json\] <file \| s3:\/\/bucket\/key \| ->…\n/);
    assert.match(result.stdout, /Exit status: 2 if any target is ERROR/);
  });

  test('the built CLI (dist/cli.js) scans the same way', async () => {
    const build = await run([], { env: {}, cwd: root, entry: join(root, 'scripts', 'build.ts') });
    assert.equal(build.code, 0, build.stderr);
    const result = await scan(['clean.txt', 'eicar.com', `s3://${BUCKET}/${prefix}/eicar.com`], { entry: join(root, 'dist', 'cli.js') });
    assert.equal(
      result.stdout,
      `clean.txt: OK\neicar.com: ${EICAR_SIGNATURE} FOUND\ns3://${BUCKET}/${prefix}/eicar.com: ${EICAR_SIGNATURE} FOUND\n`,
    );
    assert.equal(result.code, 1);
  });
});
