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
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { relay } from '../../harness/relay.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startClamd, type ClamdProcess } from '../../src/local/clamd-process.ts';
import { ClamdClient, ClamdError, type ScanVerdict } from '../../src/scan/clamd-client.ts';
import {
  EICAR_SIGNATURE,
  MARKER,
  MARKER_SIGNATURE,
  deflated,
  deflatedZeros,
  eicar,
  encrypted,
  stored,
  zip,
  zipStored,
} from '../support/samples.ts';

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

  test('a stream over StreamMaxLength is unscannable, never clean', async () => {
    const lenient = new ClamdClient({ address: clamd.address, idleTimeoutMs: 30_000, maxStreamBytes: 4 * STREAM_MAX_BYTES });
    const state = { closed: false };
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* generated(STREAM_MAX_BYTES + 4 * MiB);
      } finally {
        state.closed = true;
      }
    }
    assert.deepEqual(await lenient.scan(source()), {
      status: 'unscannable',
      reason: 'stream-limit',
      detail: "the file is larger than clamd's StreamMaxLength",
      signature: null,
    });
    assert.ok(state.closed, 'the source must be closed');
  });

  test('clamd answers the stream limit probe as the client relies on', async () => {
    // Over the limit: the refusal, at the frame header, before any data.
    assert.equal(await client.exceedsStreamLimit(STREAM_MAX_BYTES + 1), true);
    // Within it: a silent hang-up once clamd sees the end of the connection.
    assert.equal(await client.exceedsStreamLimit(STREAM_MAX_BYTES), false);
    assert.equal(await client.exceedsStreamLimit(1), false);
    // clamd is none the worse for it.
    assert.deepEqual(await client.scan(once(Buffer.from('still fine'))), { status: 'clean' });
  });

  test('the client limit stops a stream before clamd has to', async () => {
    const strict = new ClamdClient({ address: clamd.address, idleTimeoutMs: 30_000, maxStreamBytes: STREAM_MAX_BYTES });
    await assert.rejects(
      strict.scan(generated(STREAM_MAX_BYTES + 1)),
      (error: unknown) => error instanceof ClamdError && error.kind === 'limit',
    );
  });

  test('an archive nested deeper than MaxRecursion is unscannable, not passed as clean', async () => {
    // Without AlertExceedsMax clamd answers OK for this: it stops looking and says nothing.
    let nested: Buffer = Buffer.from('plain text at the bottom');
    for (let depth = 0; depth < 20; depth++) nested = zipStored([{ name: `level-${depth}.zip`, data: nested }]);
    assert.deepEqual(await client.scan(once(nested)), {
      status: 'unscannable',
      reason: 'limit-exceeded',
      detail: "containers nested deeper than clamd's MaxRecursion",
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

/**
 * A relay in front of clamd that counts the connections made through it and can
 * cut them all, as clamd does to an idle session (or a restart does to every one).
 */
async function countingRelay(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections += 1;
    relay(client, target, sockets);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: { kind: 'tcp' as const, host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    get connections() {
      return connections;
    },
    /** Ends every connection, and waits until the client side has seen each end. */
    async cutAll(): Promise<void> {
      const closing = [...sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      for (const socket of sockets) socket.destroy();
      await Promise.all(closing);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('sessions: scans over kept IDSESSION connections', () => {
  useClamd();
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  before(async () => {
    if (clamd.address.kind !== 'tcp') throw new Error('clamd listens on TCP here');
    relay = await countingRelay(clamd.address);
  });
  after(async () => {
    await relay?.cutAll();
    await relay?.stop();
  });

  test('scans one after another share one connection, each with its own verdict', async () => {
    const sessions = new ClamdClient({ address: relay.address, idleTimeoutMs: 30_000, sessions: true });
    const before = relay.connections;
    assert.deepEqual(await sessions.scan(once(Buffer.from('first clean file'))), { status: 'clean' });
    assertEicar(await sessions.scan(once(eicar())));
    assert.deepEqual(await sessions.scan(generated(2 * MiB, Buffer.from(MARKER))), { status: 'infected', signature: MARKER_SIGNATURE });
    assert.deepEqual(await sessions.scan(once(Buffer.alloc(0))), { status: 'clean' });
    assert.deepEqual(await sessions.scan(generated(3 * MiB)), { status: 'clean' });
    assert.equal(relay.connections - before, 1, 'one connection for five scans');
    await relay.cutAll();
  });

  test('concurrent scans each get their own verdict, and their connections serve the next ones', async () => {
    const sessions = new ClamdClient({ address: relay.address, idleTimeoutMs: 30_000, sessions: true });
    const before = relay.connections;
    const round = () =>
      Promise.all([
        sessions.scan(once(Buffer.from('clean one'))),
        sessions.scan(once(eicar())),
        sessions.scan(generated(MiB, Buffer.from(MARKER))),
      ]);
    for (let i = 0; i < 3; i++) {
      const verdicts = await round();
      assert.deepEqual(verdicts[0], { status: 'clean' });
      assertEicar(verdicts[1] ?? { status: 'clean' });
      assert.deepEqual(verdicts[2], { status: 'infected', signature: MARKER_SIGNATURE });
    }
    assert.equal(relay.connections - before, 3, 'three connections for nine scans');
    await relay.cutAll();
  });

  test('a session clamd has ended while idle is not used: the next scan gets a new one', async () => {
    const sessions = new ClamdClient({ address: relay.address, idleTimeoutMs: 30_000, sessions: true });
    assert.deepEqual(await sessions.scan(once(Buffer.from('a'))), { status: 'clean' });
    assert.equal(sessions.idleSessions, 1);
    await relay.cutAll();
    // The end reaches the client on its next turns; wait for the pool to have let it go.
    const deadline = Date.now() + 10_000;
    while (sessions.idleSessions > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sessions.idleSessions, 0, 'the ended session left the pool');
    const before = relay.connections;
    assert.deepEqual(await sessions.scan(once(Buffer.from('b'))), { status: 'clean' });
    assert.equal(relay.connections - before, 1);
    await relay.cutAll();
  });

  test('after a stream over StreamMaxLength (clamd ends that session) the next scan still gets a verdict', async () => {
    const sessions = new ClamdClient({
      address: relay.address,
      idleTimeoutMs: 30_000,
      sessions: true,
      maxStreamBytes: 4 * STREAM_MAX_BYTES,
    });
    assert.deepEqual(await sessions.scan(once(Buffer.from('warm'))), { status: 'clean' });
    const verdict = await sessions.scan(generated(STREAM_MAX_BYTES + 4 * MiB));
    assert.equal(verdict.status, 'unscannable');
    assert.deepEqual(await sessions.scan(once(Buffer.from('after'))), { status: 'clean' });
    assertEicar(await sessions.scan(once(eicar())));
    await relay.cutAll();
  });

  test('an aborted scan does not give its connection back', async () => {
    const sessions = new ClamdClient({ address: relay.address, idleTimeoutMs: 30_000, sessions: true });
    assert.deepEqual(await sessions.scan(once(Buffer.from('warm'))), { status: 'clean' });
    const controller = new AbortController();
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('part of a file');
      controller.abort(new Error('stop'));
      await new Promise(() => undefined);
    }
    await assert.rejects(
      sessions.scan(stalls(), controller.signal),
      (error: unknown) => error instanceof ClamdError && error.kind === 'aborted',
    );
    const before = relay.connections;
    assert.deepEqual(await sessions.scan(once(Buffer.from('next'))), { status: 'clean' });
    assert.equal(relay.connections - before, 1, "the aborted scan's connection was closed, not reused");
    await relay.cutAll();
  });
});

/** Archives nested `depth` deep around a small text file. */
function nestedZip(depth: number): Buffer {
  let nested: Buffer = Buffer.from('plain text at the bottom');
  for (let level = 0; level < depth; level++) nested = zipStored([{ name: `level-${level}.zip`, data: nested }]);
  return nested;
}

function manyFiles(count: number): Buffer {
  return zipStored(Array.from({ length: count }, (_, i) => ({ name: `file-${i}.txt`, data: Buffer.from(`file number ${i}\n`) })));
}

describe('hostile files against a clamd with small limits: unscannable, never clean', () => {
  /** StreamMaxLength 1 MiB, so MaxScanSize 4 MiB and MaxFileSize just above; 50 files, 5 levels. */
  const SMALL_STREAM = MiB;
  let small: ClamdProcess;
  let smallDir: string;
  let scanner: ClamdClient;

  before(async () => {
    smallDir = mkdtempSync(join(tmpdir(), 'bucketscan-clamd-small-'));
    small = await startClamd({
      workDir: smallDir,
      streamMaxBytes: SMALL_STREAM,
      limits: { maxFiles: 50, maxRecursion: 5 },
      maxThreads: 4,
      logger: createLogger('error', 'clamd-small'),
    });
    scanner = new ClamdClient({ address: small.address, idleTimeoutMs: 30_000 });
  });

  after(async () => {
    await small?.stop();
    if (smallDir) rmSync(smallDir, { recursive: true, force: true });
  });

  const unscannable = (reason: string, signature: string | null) => (verdict: ScanVerdict) => {
    assert.equal(verdict.status, 'unscannable', JSON.stringify(verdict));
    assert.equal(verdict.status === 'unscannable' && verdict.reason, reason);
    assert.equal(verdict.status === 'unscannable' && verdict.signature, signature);
  };

  test('a zip bomb: one deflated member expanding to 64 MiB', async () => {
    // clamd cuts the member down to MaxFileSize without a word; the generated config
    // puts MaxFileSize above MaxScanSize so the cut-down member trips MaxScanSize.
    const bomb = zip([await deflatedZeros('zeros.bin', 64 * MiB)]);
    assert.ok(bomb.length < SMALL_STREAM, 'the bomb itself is small');
    unscannable('limit-exceeded', 'Heuristics.Limits.Exceeded.MaxScanSize')(await scanner.scan(once(bomb)));
    // The same shape within the limits is scanned.
    assert.deepEqual(await scanner.scan(once(zip([await deflatedZeros('zeros.bin', MiB)]))), { status: 'clean' });
  });

  test('a signature deep inside a large zip member is found, or the zip is unscannable: never clean', async () => {
    // clamd's defaults pass such a zip as OK once the member is past MaxFileSize: the
    // member is cut down to MaxFileSize without an alert and the signature is never seen.
    const within = zip([await deflatedZeros('data.bin', 3 * MiB, Buffer.from(MARKER))]);
    assert.deepEqual(await scanner.scan(once(within)), { status: 'infected', signature: MARKER_SIGNATURE });
    const beyond = zip([await deflatedZeros('data.bin', 8 * MiB, Buffer.from(MARKER))]);
    unscannable('limit-exceeded', 'Heuristics.Limits.Exceeded.MaxScanSize')(await scanner.scan(once(beyond)));
  });

  test('a zip bomb: many members, each within MaxFileSize, together past MaxScanSize', async () => {
    const members = await Promise.all(Array.from({ length: 8 }, (_, i) => deflatedZeros(`part-${i}.bin`, MiB)));
    unscannable('limit-exceeded', 'Heuristics.Limits.Exceeded.MaxScanSize')(await scanner.scan(once(zip(members))));
  });

  test('a password-protected zip hiding EICAR', async () => {
    const hidden = encrypted(stored('eicar.com', eicar()), `pw-${Math.random()}`);
    unscannable('encrypted', 'Heuristics.Encrypted.Zip')(await scanner.scan(once(zip([hidden]))));
    // Deflated before encryption, as archivers usually do: the same.
    const deflatedHidden = encrypted(deflated('eicar.com', eicar()), 'another password');
    unscannable('encrypted', 'Heuristics.Encrypted.Zip')(await scanner.scan(once(zip([deflatedHidden]))));
    // Unencrypted, the same member is found, so the encryption is what hides it.
    assert.deepEqual(await scanner.scan(once(zip([stored('eicar.com', eicar())]))), { status: 'infected', signature: EICAR_SIGNATURE });
  });

  test('a detection beside an encrypted member is reported as the detection', async () => {
    const archive = zip([encrypted(stored('secret.txt', Buffer.from('secret')), 'pw'), stored('eicar.com', eicar())]);
    assert.deepEqual(await scanner.scan(once(archive)), { status: 'infected', signature: EICAR_SIGNATURE });
  });

  test('an archive beyond MaxFiles', async () => {
    unscannable('limit-exceeded', 'Heuristics.Limits.Exceeded.MaxFiles')(await scanner.scan(once(manyFiles(60))));
    assert.deepEqual(await scanner.scan(once(manyFiles(40))), { status: 'clean' });
  });

  test('archives nested beyond MaxRecursion', async () => {
    unscannable('limit-exceeded', 'Heuristics.Limits.Exceeded.MaxRecursion')(await scanner.scan(once(nestedZip(8))));
    assert.deepEqual(await scanner.scan(once(nestedZip(3))), { status: 'clean' });
  });

  test('a stream over StreamMaxLength is unscannable every time, however the refusal arrives', async () => {
    // clamd hangs up with our frames unread, so now and then the reset beats its reply
    // to the client; the client then asks clamd, so the outcome is the same each time.
    for (let run = 0; run < 40; run++) {
      const verdict = await scanner.scan(generated(SMALL_STREAM + 256 * 1024));
      assert.deepEqual(verdict, streamLimit, `run ${run}`);
    }
    assert.deepEqual(await scanner.scan(generated(SMALL_STREAM)), { status: 'clean' });
  });
});

const streamLimit = {
  status: 'unscannable',
  reason: 'stream-limit',
  detail: "the file is larger than clamd's StreamMaxLength",
  signature: null,
};
