/**
 * ClamdClient and startClamd against a real clamd. Without clamd installed this
 * fails (in `before`) with startClamd's message on how to install it: a scanner
 * test that skips would pass on a machine that cannot scan.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log/logger.ts';
import { renderClamdConfig, startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { ClamdClient, ClamdError, type ScanVerdict } from '../../src/scan/clamd-client.ts';
import { EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE, eicar, zipStored } from '../support/samples.ts';

const MiB = 1024 * 1024;
/** clamd's StreamMaxLength here: room for the 30 MB stream, small enough to exceed cheaply. */
const STREAM_MAX_BYTES = 40 * MiB;
const CHUNK = 64 * 1024;

let workDir: string;
let clamd: ClamdProcess;
let client: ClamdClient;

/**
 * Inside the suite rather than at the top level: node:test reports a failing
 * top-level hook only as cancelled tests, without its error, and the error is the
 * useful part (e.g. that clamd is not installed and how to install it).
 */
function useClamd(): void {
  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'bucketscan-clamd-it-'));
    const logger = createLogger('warn', 'clamd-test');
    clamd = await startClamd({ workDir, streamMaxBytes: STREAM_MAX_BYTES, maxThreads: 4, logger });
    if (clamd.warning) logger.warn(clamd.warning);
    // The idle limit only stops a hung clamd from hanging the suite.
    client = new ClamdClient({ address: clamd.address, idleTimeoutMs: 30_000 });
  });

  after(async () => {
    await clamd?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });
}

/**
 * `totalBytes` of patterned bytes with `tail` as the last bytes, yielded in CHUNK
 * pieces so it is streamed, never held whole. The body block is reused for every
 * chunk; only the chunk that carries part of the tail is built afresh.
 */
async function* generated(totalBytes: number, tail: Buffer = Buffer.alloc(0)): AsyncGenerator<Uint8Array> {
  const block = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) block[i] = (i * 31 + 7) % 251;
  const bodyBytes = totalBytes - tail.length;
  for (let offset = 0; offset < totalBytes; offset += CHUNK) {
    const end = Math.min(offset + CHUNK, totalBytes);
    if (end <= bodyBytes) {
      yield block.subarray(0, end - offset);
    } else {
      const chunk = Buffer.from(block.subarray(0, end - offset));
      for (let position = Math.max(offset, bodyBytes); position < end; position++) {
        chunk[position - offset] = tail[position - bodyBytes] ?? 0;
      }
      yield chunk;
    }
  }
}

async function* once(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function assertEicar(verdict: ScanVerdict): void {
  assert.equal(verdict.status, 'infected');
  const signature = verdict.status === 'infected' ? verdict.signature : '';
  // With an official database loaded its own EICAR signature may match first.
  if (clamd.testSignaturesOnly) assert.equal(signature, EICAR_SIGNATURE);
  else assert.match(signature, /eicar/i);
}

describe('a real clamd started by startClamd', () => {
  useClamd();

  test('answers PING', async () => {
    await client.ping();
  });

  test('reports its version', async () => {
    const engine = await client.version();
    assert.match(engine.clamav, /^\d+\.\d+/);
    if (clamd.testSignaturesOnly) {
      // What clamd says with custom signatures only: "ClamAV 1.4.6", no database part.
      assert.equal(engine.databaseVersion, null);
      assert.equal(engine.raw, `ClamAV ${engine.clamav}`);
    } else {
      assert.ok(engine.databaseVersion !== null && engine.databaseVersion > 0);
    }
  });

  test('clean bytes are clean', async () => {
    assert.deepEqual(await client.scan(once(Buffer.from('just an ordinary text file\n'))), { status: 'clean' });
  });

  test('EICAR is detected', async () => {
    assertEicar(await client.scan(once(eicar())));
  });

  test('EICAR inside a zip is detected', async () => {
    const zip = zipStored([
      { name: 'readme.txt', data: Buffer.from('nothing to see') },
      { name: 'tools/eicar.com', data: eicar() },
    ]);
    assertEicar(await client.scan(once(zip)));
  });

  test('the marker at the very end of a 30 MB stream is found', async () => {
    // Ending 20 bytes past a chunk boundary, the marker is split across the last two chunks.
    const total = 30 * MiB + 20;
    assert.ok(total - Buffer.byteLength(MARKER) < 30 * MiB);
    const verdict = await client.scan(generated(total, Buffer.from(MARKER)));
    assert.deepEqual(verdict, { status: 'infected', signature: MARKER_SIGNATURE });
  });

  test('a stream of exactly StreamMaxLength bytes is scanned (and not flagged by MaxFileSize)', async () => {
    assert.deepEqual(await client.scan(generated(STREAM_MAX_BYTES)), { status: 'clean' });
  });

  test('a stream over StreamMaxLength is an error, never clean', async () => {
    const lenient = new ClamdClient({ address: clamd.address, idleTimeoutMs: 30_000, maxStreamBytes: 4 * STREAM_MAX_BYTES });
    const state = { closed: false };
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* generated(STREAM_MAX_BYTES + 4 * MiB);
      } finally {
        state.closed = true;
      }
    }
    await assert.rejects(lenient.scan(source()), (error: unknown) => {
      assert.ok(error instanceof ClamdError, String(error));
      // clamd answers "INSTREAM size limit exceeded. ERROR" and hangs up on the rest
      // of the stream; the hang-up is a reset that can beat the reply to the client.
      assert.ok(error.kind === 'reply' || error.kind === 'closed', `${error.kind}: ${error.message}`);
      if (error.kind === 'reply') assert.match(error.message, /INSTREAM size limit exceeded/);
      return true;
    });
    assert.ok(state.closed, 'the source must be closed');
  });

  test('the client limit stops a stream before clamd has to', async () => {
    const strict = new ClamdClient({ address: clamd.address, idleTimeoutMs: 30_000, maxStreamBytes: STREAM_MAX_BYTES });
    await assert.rejects(strict.scan(generated(STREAM_MAX_BYTES + 1)), (error: unknown) => error instanceof ClamdError && error.kind === 'limit');
  });

  test('an archive nested deeper than MaxRecursion is flagged, not passed as clean', async () => {
    // Without AlertExceedsMax clamd answers OK for this: it stops looking and says nothing.
    let nested: Buffer = Buffer.from('plain text at the bottom');
    for (let depth = 0; depth < 20; depth++) nested = zipStored([{ name: `level-${depth}.zip`, data: nested }]);
    assert.deepEqual(await client.scan(once(nested)), {
      status: 'infected',
      signature: 'Heuristics.Limits.Exceeded.MaxRecursion',
    });
  });

  test('concurrent scans each get their own verdict', async () => {
    const verdicts = await Promise.all([
      client.scan(once(Buffer.from('first clean file'))),
      client.scan(once(eicar())),
      client.scan(generated(2 * MiB, Buffer.from(MARKER))),
      client.scan(generated(3 * MiB)),
    ]);
    assert.deepEqual(verdicts[0], { status: 'clean' });
    assertEicar(verdicts[1] ?? { status: 'clean' });
    assert.deepEqual(verdicts[2], { status: 'infected', signature: MARKER_SIGNATURE });
    assert.deepEqual(verdicts[3], { status: 'clean' });
  });

  test('the generated config uses the database directory it prepared', () => {
    assert.ok(clamd.databaseDir.startsWith(workDir));
    assert.ok(clamd.configPath.startsWith(workDir));
    assert.ok(clamd.pid > 0);
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

  test('derives the scan limits from the stream limit', () => {
    const config = options(renderClamdConfig(base));
    assert.equal(config.get('StreamMaxLength'), String(100 * MiB));
    assert.equal(config.get('MaxFileSize'), String(100 * MiB));
    assert.equal(config.get('MaxScanSize'), String(400 * MiB));
    assert.equal(config.get('TCPAddr'), '127.0.0.1');
    assert.equal(config.get('TCPSocket'), '3310');

    const huge = options(renderClamdConfig({ ...base, streamMaxBytes: 4095 * MiB }));
    assert.equal(huge.get('MaxFileSize'), '2147483645', 'libclamav cannot scan files of 2 GB or more');
    assert.equal(huge.get('MaxScanSize'), String(0xffffffff), 'clamd sizes stop at 4 GB');
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
