/**
 * ClamdClient against small fake clamd servers. The fakes stand in only for what a
 * real clamd will not do on demand (hang, talk garbage, hang up at a chosen moment);
 * scanning itself is covered against a real clamd in test/integration/clamd.test.ts.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ClamdClient, ClamdError, type ClamdAddress, type ClamdErrorKind } from '../../src/scan/clamd-client.ts';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../../src/local/free-port.ts';

const SIZE_LIMIT_REPLY = 'INSTREAM size limit exceeded. ERROR\0';

interface Hooks {
  onCommand?(session: Session): void;
  /** When a frame header (not the terminator) arrives, before its payload; `session.frames` includes it. */
  onFrame?(session: Session): void;
  /** After each piece of frame payload arrives. */
  onPayload?(session: Session): void;
  /** On the zero-length terminator. */
  onEnd?(session: Session): void;
}

/** One connection to the fake, with the INSTREAM framing decoded as bytes arrive. */
class Session {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  command: string | undefined;
  /** Declared length of every non-terminating frame. */
  readonly frames: number[] = [];
  readonly payload: Buffer[] = [];
  payloadBytes = 0;
  ended = false;
  closed = false;
  readonly #hooks: Hooks;
  #pending = Buffer.alloc(0);
  #frameLeft = 0;

  constructor(socket: Socket, hooks: Hooks) {
    this.socket = socket;
    this.#hooks = hooks;
    socket.on('data', (data: Buffer) => this.#feed(data));
    socket.on('error', () => undefined); // the client resets connections it gives up on
    socket.on('close', () => {
      this.closed = true;
    });
  }

  reply(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  #feed(data: Buffer): void {
    this.received.push(data);
    this.#pending = Buffer.concat([this.#pending, data]);
    for (;;) {
      if (this.command === undefined) {
        const end = this.#pending.indexOf(0);
        if (end === -1) return;
        this.command = this.#pending.subarray(0, end).toString('latin1');
        this.#pending = this.#pending.subarray(end + 1);
        this.#hooks.onCommand?.(this);
      } else if (this.ended) {
        return;
      } else if (this.#frameLeft > 0) {
        if (this.#pending.length === 0) return;
        const piece = this.#pending.subarray(0, this.#frameLeft);
        this.payload.push(Buffer.from(piece));
        this.payloadBytes += piece.length;
        this.#frameLeft -= piece.length;
        this.#pending = this.#pending.subarray(piece.length);
        this.#hooks.onPayload?.(this);
      } else {
        if (this.#pending.length < 4) return;
        const length = this.#pending.readUInt32BE(0);
        this.#pending = this.#pending.subarray(4);
        if (length === 0) {
          this.ended = true;
          this.#hooks.onEnd?.(this);
          return;
        }
        this.frames.push(length);
        this.#frameLeft = length;
        this.#hooks.onFrame?.(this);
        if (this.socket.destroyed || this.socket.isPaused()) return;
      }
    }
  }
}

interface Fake {
  address: ClamdAddress;
  sessions: Session[];
  close(): Promise<void>;
}

const fakes: Fake[] = [];
after(async () => {
  await Promise.all(fakes.map((fake) => fake.close()));
});

async function fakeClamd(hooks: Hooks, listenOn: { path: string } | undefined = undefined): Promise<Fake> {
  const sessions: Session[] = [];
  const server: Server = createServer((socket) => sessions.push(new Session(socket, hooks)));
  await new Promise<void>((resolve) => {
    if (listenOn) server.listen(listenOn.path, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  const bound = server.address();
  const address: ClamdAddress =
    listenOn !== undefined
      ? { kind: 'socket', path: listenOn.path }
      : { kind: 'tcp', host: '127.0.0.1', port: typeof bound === 'object' && bound ? bound.port : 0 };
  const fake: Fake = {
    address,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.socket.destroy();
        server.close(() => resolve());
      }),
  };
  fakes.push(fake);
  return fake;
}

/** Answers each INSTREAM with `reply` once the terminator arrives. */
function replyingAtEnd(reply: string): Hooks {
  return { onEnd: (session) => session.reply(reply) };
}

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

/** An endless source that records whether it was closed. */
function endless(chunkSize = 16 * 1024): { source: AsyncGenerator<Uint8Array>; state: { closed: boolean; reads: number } } {
  const state = { closed: false, reads: 0 };
  async function* generate(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        state.reads += 1;
        yield Buffer.alloc(chunkSize, 0x61);
      }
    } finally {
      state.closed = true;
    }
  }
  return { source: generate(), state };
}

async function rejectsWith(promise: Promise<unknown>, kind: ClamdErrorKind, message?: RegExp): Promise<ClamdError> {
  let caught: unknown;
  await promise.then(
    (value) => assert.fail(`expected a ClamdError of kind ${kind}, got ${JSON.stringify(value)}`),
    (error: unknown) => {
      caught = error;
    },
  );
  assert.ok(caught instanceof ClamdError, `expected a ClamdError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, `wrong kind; message: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

function client(fake: Fake, options: { idleTimeoutMs?: number; maxStreamBytes?: number; chunkBytes?: number } = {}): ClamdClient {
  return new ClamdClient({ address: fake.address, ...options });
}

describe('INSTREAM framing', () => {
  test('sends the command, length-prefixed frames no larger than chunkBytes, and a zero terminator', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const parts = [
      Buffer.alloc(2500, 1), // split into 1000 + 1000 + 500
      Buffer.alloc(0), // must not become a premature terminator
      Buffer.from('ten bytes!'),
      new Uint8Array(1000).fill(2), // a plain Uint8Array, not a Buffer
      Buffer.from([3]),
    ];
    const verdict = await client(fake, { chunkBytes: 1000 }).scan(chunks(...parts));
    assert.deepEqual(verdict, { status: 'clean' });

    const [session] = fake.sessions;
    assert.ok(session);
    assert.equal(session.command, 'zINSTREAM');
    assert.deepEqual(session.frames, [1000, 1000, 500, 10, 1000, 1]);
    assert.ok(session.ended);

    const frame = (payload: Uint8Array) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(payload.length);
      return Buffer.concat([header, payload]);
    };
    const source = Buffer.concat(parts);
    const expected = Buffer.concat([
      Buffer.from('zINSTREAM\0'),
      frame(source.subarray(0, 1000)),
      frame(source.subarray(1000, 2000)),
      frame(source.subarray(2000, 2500)),
      frame(source.subarray(2500, 2510)),
      frame(source.subarray(2510, 3510)),
      frame(source.subarray(3510)),
      Buffer.alloc(4),
    ]);
    assert.deepEqual(Buffer.concat(session.received), expected);
  });

  test('an empty source is just the command and the terminator', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    assert.deepEqual(await client(fake).scan(chunks()), { status: 'clean' });
    assert.deepEqual(Buffer.concat(fake.sessions[0]?.received ?? []), Buffer.from('zINSTREAM\0\0\0\0\0'));
  });

  test('a Node Readable is consumed as a stream, and a FOUND reply is a detection', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: Some.Signature-1 FOUND\0'));
    const readable = Readable.from([Buffer.from('abc'), Buffer.from('def')], { objectMode: false });
    assert.deepEqual(await client(fake).scan(readable), { status: 'infected', signature: 'Some.Signature-1' });
    assert.equal(Buffer.concat(fake.sessions[0]?.payload ?? []).toString(), 'abcdef');
  });

  test('a reply ended by the connection closing instead of a NUL still counts', async () => {
    const fake = await fakeClamd({ onEnd: (session) => session.socket.end('stream: OK') });
    assert.deepEqual(await client(fake).scan(chunks(Buffer.from('x'))), { status: 'clean' });
  });
});

describe('failures are errors, never clean', () => {
  test('a server that never answers: idle timeout', async () => {
    const fake = await fakeClamd({});
    await rejectsWith(client(fake, { idleTimeoutMs: 100 }).scan(chunks(Buffer.from('x'))), 'timeout', /100 ms/);
  });

  test('a garbage reply', async () => {
    const fake = await fakeClamd(replyingAtEnd('\x01garbage\xff\0'));
    const error = await rejectsWith(client(fake).scan(chunks(Buffer.from('x'))), 'reply', /unrecognised reply: "\\x01garbage\\xff"/);
    assert.equal(error.reply, '"\\x01garbage\\xff"');
  });

  test("an ERROR reply carries clamd's text", async () => {
    const fake = await fakeClamd(replyingAtEnd("stream: Can't allocate memory ERROR\0"));
    await rejectsWith(client(fake).scan(chunks(Buffer.from('x'))), 'reply', /Can't allocate memory ERROR/);
  });

  test('endless garbage without a terminator is cut off', async () => {
    const fake = await fakeClamd({ onEnd: (session) => session.reply('x'.repeat(20_000)) });
    await rejectsWith(client(fake).scan(chunks(Buffer.from('x'))), 'reply', /more than 8192 bytes/);
  });

  test('a server that closes without replying', async () => {
    const fake = await fakeClamd({ onEnd: (session) => session.socket.end() });
    await rejectsWith(client(fake).scan(chunks(Buffer.from('x'))), 'closed', /without replying/);
  });

  test('a server that hangs up in the middle of the stream', async () => {
    const fake = await fakeClamd({ onPayload: (session) => session.socket.destroy() });
    const { source, state } = endless();
    await rejectsWith(client(fake).scan(source), 'closed');
    assert.ok(state.closed, 'the source must be closed');
  });

  test("a hang-up in the middle of the stream within clamd's limit stays an error (after asking clamd)", async () => {
    // The probe that follows the hang-up (see below) finds the stream within
    // clamd's limit, so the hang-up keeps its meaning: no verdict, retry.
    const fake = await fakeClamd(clamdLike({ limit: 1_000_000, hangUpAfter: 50_000 }));
    const { source, state } = endless();
    await rejectsWith(client(fake).scan(source), 'closed');
    assert.ok(state.closed, 'the source must be closed');
    const probe = fake.sessions[1];
    assert.ok(probe, 'the client asked clamd about its stream limit');
    assert.equal(probe.command, 'zINSTREAM');
    assert.equal(probe.payloadBytes, 0, 'the probe sends no data');
    assert.ok(probe.frames.length === 1 && (probe.frames[0] ?? 0) >= 50_000 && (probe.frames[0] ?? 0) <= 1_000_000);
  });

  test('"stream: OK" before the end of the stream is not a verdict', async () => {
    const fake = await fakeClamd({
      onPayload: (session) => {
        if (!session.socket.isPaused()) {
          session.socket.pause();
          session.reply('stream: OK\0');
        }
      },
    });
    const { source } = endless();
    await rejectsWith(client(fake).scan(source), 'reply', /before the end of the stream: "stream: OK"/);
  });

  test('connection refused', async () => {
    const address: ClamdAddress = { kind: 'tcp', host: '127.0.0.1', port: await freePort() };
    const readable = new Readable({ read() {} });
    await rejectsWith(new ClamdClient({ address }).scan(readable), 'connect', /ECONNREFUSED/);
    assert.ok(readable.destroyed, 'a stream source must be destroyed even if it was never read');
  });

  test('a unix socket that does not exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bucketscan-clamd-test-'));
    try {
      const address: ClamdAddress = { kind: 'socket', path: join(dir, 'missing.sock') };
      await rejectsWith(new ClamdClient({ address }).ping(), 'connect', /ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a source over maxStreamBytes fails before the excess is sent', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const parts = [Buffer.alloc(1000), Buffer.alloc(1000), Buffer.alloc(1000)];
    const state = { closed: false };
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* parts;
      } finally {
        state.closed = true;
      }
    }
    await rejectsWith(client(fake, { maxStreamBytes: 2500 }).scan(source()), 'limit', /2500 bytes/);
    assert.ok(state.closed, 'the source must be closed');
    const session = await waitFor('the fake to see the connection close', () => (fake.sessions[0]?.closed ? fake.sessions[0] : undefined));
    assert.equal(session.payloadBytes, 2000);
    assert.equal(session.ended, false, 'no terminator may follow a refused stream');
  });

  test('a source of exactly maxStreamBytes is scanned', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const verdict = await client(fake, { maxStreamBytes: 3000 }).scan(chunks(Buffer.alloc(1000), Buffer.alloc(2000)));
    assert.deepEqual(verdict, { status: 'clean' });
  });

  test('an abort before the scan starts', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const { source, state } = endless();
    await source.next(); // started, so closing it runs its finally
    const reason = new Error('shutting down');
    const error = await rejectsWith(client(fake).scan(source, AbortSignal.abort(reason)), 'aborted');
    assert.equal(error.cause, reason);
    assert.ok(state.closed, 'the source must be closed');
  });

  test('an abort in the middle of the stream', async () => {
    const controller = new AbortController();
    const fake = await fakeClamd({ onPayload: () => controller.abort(new Error('stop')) });
    const { source, state } = endless();
    await rejectsWith(client(fake).scan(source, controller.signal), 'aborted');
    assert.ok(state.closed, 'the source must be closed');
  });

  test('an abort while the source is stalled', async () => {
    const controller = new AbortController();
    const fake = await fakeClamd({ onCommand: () => controller.abort() });
    const stalled = new Readable({ read() {} }); // never produces a byte
    await rejectsWith(client(fake).scan(stalled, controller.signal), 'aborted');
    assert.ok(stalled.destroyed, 'a stalled stream source must be destroyed');
  });

  test('a failing source: its error propagates unchanged and the connection is dropped', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const failure = new Error('S3 read failed');
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial');
      throw failure;
    }
    await assert.rejects(client(fake).scan(source()), (error) => error === failure);
    const session = await waitFor('the fake to see the connection close', () => (fake.sessions[0]?.closed ? fake.sessions[0] : undefined));
    assert.equal(session.ended, false, 'a partial object must never be terminated and scanned');
  });

  test('a source yielding something other than bytes', async () => {
    const fake = await fakeClamd(replyingAtEnd('stream: OK\0'));
    const source = (async function* () {
      yield 'text' as unknown as Uint8Array;
    })();
    await assert.rejects(client(fake).scan(source), TypeError);
  });
});

/**
 * Enforces a StreamMaxLength the way clamd 1.4.6 does: each frame header's length
 * is checked against what is left of the limit as soon as the header is read, and a
 * frame that does not fit gets "INSTREAM size limit exceeded. ERROR" and a hang-up.
 * `loseReply` makes the hang-up a reset with no reply, which is what the client
 * sees when the reset beats the reply (it happens with a real clamd now and then);
 * `hangUpAfter` makes it hang up without a word after that many payload bytes,
 * like a clamd that died.
 */
function clamdLike(options: { limit: number; loseReply?: boolean; hangUpAfter?: number }): Hooks {
  // The first connection is the scan; later ones are the client's probes, which always get their answer.
  let scan: Session | undefined;
  return {
    onCommand: (session) => {
      scan ??= session;
    },
    onFrame: (session) => {
      const stated = session.frames.reduce((total, length) => total + length, 0);
      if (stated <= options.limit) return;
      if (options.loseReply && session === scan) {
        session.socket.resetAndDestroy();
      } else {
        session.socket.pause();
        session.socket.end(Buffer.from(SIZE_LIMIT_REPLY, 'latin1'));
      }
    },
    onPayload: (session) => {
      if (options.hangUpAfter !== undefined && session.payloadBytes >= options.hangUpAfter) session.socket.resetAndDestroy();
    },
    onEnd: (session) => session.reply('stream: OK\0'),
  };
}

describe("clamd's stream limit (StreamMaxLength)", () => {
  test('a refusal read before the end of the stream: unscannable, the source closed, no terminator sent', async () => {
    const fake = await fakeClamd(clamdLike({ limit: 100_000 }));
    const { source, state } = endless();
    assert.deepEqual(await client(fake).scan(source), {
      status: 'unscannable',
      reason: 'stream-limit',
      detail: "the file is larger than clamd's StreamMaxLength",
      signature: null,
    });
    assert.ok(state.closed, 'the source must be closed');
    const session = fake.sessions[0];
    assert.ok(session && !session.ended, 'no terminator may follow a refusal');
  });

  test('a refusal lost to a reset: the client asks clamd, and the answer is unscannable', async () => {
    const fake = await fakeClamd(clamdLike({ limit: 100_000, loseReply: true }));
    const { source, state } = endless();
    const verdict = await client(fake).scan(source);
    assert.equal(verdict.status, 'unscannable');
    assert.equal(verdict.status === 'unscannable' && verdict.reason, 'stream-limit');
    assert.ok(state.closed, 'the source must be closed');
    const [scan, probe] = fake.sessions;
    assert.ok(scan && probe && fake.sessions.length === 2);
    assert.equal(probe.command, 'zINSTREAM');
    assert.equal(probe.payloadBytes, 0, 'the probe sends no data');
    const sent = scan.frames.reduce((total, length) => total + length, 0);
    assert.ok((probe.frames[0] ?? 0) >= sent, `the probe states at least what the scan framed (${probe.frames[0]} < ${sent})`);
  });

  test('the refusal of the very last frame, lost too: still unscannable', async () => {
    const fake = await fakeClamd(clamdLike({ limit: 2_500, loseReply: true }));
    const verdict = await client(fake, { chunkBytes: 1000 }).scan(chunks(Buffer.alloc(3000)));
    assert.equal(verdict.status === 'unscannable' && verdict.reason, 'stream-limit');
  });

  test('a stream of exactly the limit is scanned', async () => {
    const fake = await fakeClamd(clamdLike({ limit: 3000, loseReply: true }));
    assert.deepEqual(await client(fake, { chunkBytes: 1000 }).scan(chunks(Buffer.alloc(3000))), { status: 'clean' });
    assert.equal(fake.sessions.length, 1, 'no probe after a verdict');
  });

  test("exceedsStreamLimit: a definite yes only for clamd's refusal", async () => {
    const fake = await fakeClamd(clamdLike({ limit: 1000 }));
    const probing = client(fake);
    assert.equal(await probing.exceedsStreamLimit(1001), true);
    assert.equal(await probing.exceedsStreamLimit(1000), false);
    assert.equal(await probing.exceedsStreamLimit(0), false);
    assert.equal(fake.sessions.length, 2, 'no connection for 0 bytes');
    assert.deepEqual(
      fake.sessions.map((session) => session.frames),
      [[1001], [1000]],
    );

    const garbage = await fakeClamd({ onFrame: (session) => session.socket.end('stream: OK\0') });
    assert.equal(await client(garbage).exceedsStreamLimit(5000), false, 'any other answer is not a yes');
    const silent = await fakeClamd({});
    assert.equal(await client(silent, { idleTimeoutMs: 100 }).exceedsStreamLimit(5000), false, 'no answer is not a yes');
    const refused = { kind: 'tcp', host: '127.0.0.1', port: await freePort() } as const;
    assert.equal(await new ClamdClient({ address: refused }).exceedsStreamLimit(5000), false);
  });
});

describe('PING and VERSION', () => {
  test('PONG', async () => {
    const fake = await fakeClamd({ onCommand: (session) => session.reply('PONG\0') });
    await client(fake).ping();
    assert.equal(fake.sessions[0]?.command, 'zPING');
  });

  test('anything but PONG is an error', async () => {
    const fake = await fakeClamd({ onCommand: (session) => session.reply('PANG\0') });
    await rejectsWith(client(fake).ping(), 'reply', /"PANG"/);
  });

  test('a PING that is never answered times out', async () => {
    const fake = await fakeClamd({});
    await rejectsWith(client(fake, { idleTimeoutMs: 100 }).ping(), 'timeout');
  });

  test('PING over a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bucketscan-clamd-test-'));
    try {
      const fake = await fakeClamd({ onCommand: (session) => session.reply('PONG\0') }, { path: join(dir, 'clamd.sock') });
      await client(fake).ping();
      await fake.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('VERSION', async () => {
    const fake = await fakeClamd({ onCommand: (session) => session.reply('ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025\0') });
    assert.deepEqual(await client(fake).version(), {
      clamav: '1.4.6',
      databaseVersion: 27431,
      databaseDate: '2025-10-30T09:22:40',
      raw: 'ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025',
    });
    assert.equal(fake.sessions[0]?.command, 'zVERSION');
  });

  test('a VERSION reply that is not one is an error', async () => {
    const fake = await fakeClamd({ onCommand: (session) => session.reply('UNKNOWN COMMAND\0') });
    await rejectsWith(client(fake).version(), 'reply', /UNKNOWN COMMAND/);
  });
});

describe('options', () => {
  test('invalid options are refused up front', () => {
    const address: ClamdAddress = { kind: 'tcp', host: '127.0.0.1', port: 3310 };
    assert.throws(() => new ClamdClient({ address: { ...address, port: 0 } }), RangeError);
    assert.throws(() => new ClamdClient({ address, chunkBytes: 0 }), RangeError);
    assert.throws(() => new ClamdClient({ address, idleTimeoutMs: 0 }), RangeError);
    assert.throws(() => new ClamdClient({ address, maxStreamBytes: -1 }), RangeError);
  });
});
