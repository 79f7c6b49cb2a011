/**
 * A small client for clamd's socket protocol: PING, VERSION, RELOAD and INSTREAM, one
 * connection per command, or, with `sessions`, INSTREAM over kept connections
 * (clamd's IDSESSION: many commands on one connection, each reply prefixed with
 * its number), which spares a TCP connect, clamd's accept and a teardown per
 * file (docs/benchmarks.md, "Worker CPU").
 *
 * The contract that matters: `scan` resolves only with a verdict clamd actually
 * gave: clean or infected for the whole stream, or unscannable when clamd said it
 * could not inspect all of it (a scan limit, encryption, a stream longer than its
 * StreamMaxLength). Every other outcome (no connection, a stall, an unknown or
 * early reply, a closed socket, a stream over the client's own limit, an abort) is
 * a rejection, so "could not scan" can never be mistaken for "clean".
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorMessage } from '../shared/errors.ts';
import { isLendingBody } from '../shared/lending.ts';
import type { Socket } from 'node:net';
import { type ClamdAddress, ClamdError, Connection } from './clamd-connection.ts';
import {
  describeBytes,
  isStreamLimitReply,
  parseScanReply,
  parseVersionReply,
  streamLimitExceeded,
  type EngineInfo,
  type ScanVerdict,
} from './reply.ts';

export interface ClamdClientOptions {
  address: ClamdAddress;
  /** Time allowed to establish the connection. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Longest time with no bytes moving in either direction once connected. This
   * includes clamd's own scanning time after the stream is sent, so it must exceed
   * clamd's MaxScanTime. Default 120000.
   */
  idleTimeoutMs?: number;
  /**
   * Most bytes one scan may stream; a longer source fails with kind 'limit' before
   * the excess is sent. Default: no limit on this side. clamd's StreamMaxLength
   * applies regardless: a stream past it is `unscannable` (see `scan`).
   */
  maxStreamBytes?: number;
  /** Largest INSTREAM frame. Default 65536 (see DEFAULT_CHUNK_BYTES). */
  chunkBytes?: number;
  /**
   * Scan over kept IDSESSION connections (see `SessionPool`). Default false: one
   * connection per scan.
   */
  sessions?: boolean;
}

export type { ScanVerdict };
export { ClamdError };
export type { ClamdAddress, ClamdErrorKind } from './clamd-connection.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * 64 KiB: as large as the chunks an S3 body or a file stream usually delivers, so
 * they mostly pass through whole (no copy, one frame each) and the 4-byte header
 * costs nothing; small enough that at most this much is committed to a connection
 * clamd may already have refused.
 */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** INSTREAM frame lengths are unsigned 32-bit. */
const MAX_FRAME_BYTES = 0xffff_ffff;

const PING = Buffer.from('zPING\0');
const VERSION = Buffer.from('zVERSION\0');
const RELOAD = Buffer.from('zRELOAD\0');
const INSTREAM = Buffer.from('zINSTREAM\0');
const IDSESSION = Buffer.from('zIDSESSION\0');

/**
 * A session connection idle longer than this is closed rather than used again.
 * clamd ends an idle session after its IdleTimeout (30 s by default); staying far
 * below it means a kept connection is never one clamd is closing at that moment
 * (which would fail the scan sent on it). Under load connections are reused
 * within milliseconds; a trickle of files pays a connect each, as without sessions.
 */
export const SESSION_IDLE_MS = 2_000;
/** Idle session connections kept at most (about one per scan at once). */
const MAX_IDLE_SESSIONS = 64;

const ignore = () => undefined;
const guarded = new WeakSet<Socket>();

interface Session {
  socket: Socket;
  /** Commands sent on it so far: clamd numbers its replies from 1. */
  commands: number;
  idleSince: number;
  /** Drops it from the pool (its listener while idle). */
  drop?: () => void;
}

/**
 * Idle IDSESSION connections between scans. An idle one that clamd closes, or
 * that says anything, is dropped; one idle past SESSION_IDLE_MS is closed when
 * next looked at. Only a scan that ended with a verdict puts its connection back:
 * after any failure (a stream limit, an early reply, an abort, a timeout) the
 * connection is closed, as it is without sessions.
 */
class SessionPool {
  readonly #idle: Session[] = [];

  get size(): number {
    return this.#idle.length;
  }

  take(): Session | undefined {
    const now = performance.now();
    for (let session = this.#idle.pop(); session; session = this.#idle.pop()) {
      this.#unwatch(session);
      if (now - session.idleSince <= SESSION_IDLE_MS && !session.socket.destroyed && session.socket.readyState === 'open') {
        session.socket.ref();
        return session;
      }
      session.socket.destroy();
    }
    return undefined;
  }

  give(session: Session): void {
    if (this.#idle.length >= MAX_IDLE_SESSIONS) {
      session.socket.destroy();
      return;
    }
    session.idleSince = performance.now();
    const { socket } = session;
    // Idle, it must not keep the process alive, and anything it says or suffers ends it.
    socket.unref();
    const drop = () => {
      this.#unwatch(session);
      socket.destroy();
      const index = this.#idle.indexOf(session);
      if (index !== -1) this.#idle.splice(index, 1);
    };
    session.drop = drop;
    // Once per socket, for good: whatever it emits after being dropped must not surface as unhandled.
    if (!guarded.has(socket)) {
      guarded.add(socket);
      socket.on('error', ignore);
    }
    socket.on('data', drop);
    socket.on('end', drop);
    socket.on('close', drop);
    socket.on('error', drop);
    this.#idle.push(session);
  }

  #unwatch(session: Session): void {
    const { socket, drop } = session;
    if (!drop) return;
    session.drop = undefined;
    socket.off('data', drop);
    socket.off('end', drop);
    socket.off('close', drop);
    socket.off('error', drop);
  }
}

/** "<n>: " before a session's reply: the reply without it, or undefined when the prefix is not n's. */
function sessionReply(reply: Buffer, expected: number): Buffer | undefined {
  const prefix = `${expected}: `;
  return reply.length >= prefix.length && reply.toString('latin1', 0, prefix.length) === prefix ? reply.subarray(prefix.length) : undefined;
}
const END_OF_STREAM = Buffer.alloc(4);

function lengthHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(length, 0);
  return header;
}

/** A full-size frame's header is the same every time: shared (writes only read it). */
const FULL_FRAME_HEADER = lengthHeader(DEFAULT_CHUNK_BYTES);

const frameHeader = (length: number): Buffer => (length === DEFAULT_CHUNK_BYTES ? FULL_FRAME_HEADER : lengthHeader(length));

/** What a scan has put on its connection so far. */
interface Framing {
  /** Buffers still to go out before the next frame: the command, until the first write. */
  unsent: Uint8Array[];
  /** Bytes put in frames, the ones being written included. */
  framed: number;
  written: boolean;
  /** A lending source's release (src/shared/lending.ts): a chunk goes back once clamd's socket has written it. */
  release: ((chunk: Uint8Array) => void) | undefined;
}

export class ClamdClient {
  readonly #address: ClamdAddress;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #maxStreamBytes: number;
  readonly #chunkBytes: number;
  readonly #sessions: SessionPool | undefined;

  constructor(options: ClamdClientOptions) {
    this.#sessions = options.sessions === true ? new SessionPool() : undefined;
    this.#address = validateAddress(options.address);
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.#idleTimeoutMs = positive('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#maxStreamBytes = options.maxStreamBytes ?? Number.POSITIVE_INFINITY;
    if (!(this.#maxStreamBytes >= 0)) throw new RangeError(`maxStreamBytes must be 0 or more, got ${options.maxStreamBytes}`);
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(this.#chunkBytes) || this.#chunkBytes < 1 || this.#chunkBytes > MAX_FRAME_BYTES) {
      throw new RangeError(`chunkBytes must be an integer from 1 to ${MAX_FRAME_BYTES}, got ${options.chunkBytes}`);
    }
  }

  /** Session connections kept idle for the next scan (0 without sessions). */
  get idleSessions(): number {
    return this.#sessions?.size ?? 0;
  }

  /** Resolves when clamd answers PONG. */
  async ping(signal?: AbortSignal): Promise<void> {
    const reply = await this.#command(PING, signal);
    const text = reply.toString('latin1').replace(/[\0\s]+$/, '');
    if (text !== 'PONG') {
      throw new ClamdError('reply', `clamd answered PING with ${describeBytes(reply)}`, { reply: describeBytes(reply) });
    }
  }

  async version(signal?: AbortSignal): Promise<EngineInfo> {
    const reply = await this.#command(VERSION, signal);
    try {
      return parseVersionReply(reply);
    } catch (error) {
      throw new ClamdError('reply', errorMessage(error), { cause: error, reply: describeBytes(reply) });
    }
  }

  /**
   * Asks clamd to load its database directory again (`bucketscan signatures
   * publish` to the local stack). clamd answers at once and loads in the
   * background, keeping the database it has if the new one fails to load.
   */
  async reload(signal?: AbortSignal): Promise<void> {
    const reply = await this.#command(RELOAD, signal);
    const text = reply.toString('latin1').replace(/[\0\s]+$/, '');
    if (text !== 'RELOADING') {
      throw new ClamdError('reply', `clamd answered RELOAD with ${describeBytes(reply)}`, { reply: describeBytes(reply) });
    }
  }

  /**
   * Streams `source` to clamd with INSTREAM and returns its verdict.
   *
   * The source is read one chunk at a time, and the next chunk is requested only
   * once the socket has taken this one without exceeding its buffer, so backpressure
   * reaches the source (an S3 body is pulled no faster than clamd takes it) and the
   * object is never held in memory beyond a chunk and the socket's buffer. On any failure
   * the source is closed: its iterator's return() is called and, when it is a Node
   * stream, it is destroyed too, because return() on an iterator that never started
   * or is waiting for data does not reach the stream (and an S3 body left half-read
   * keeps a pooled connection). Errors thrown by the source itself propagate as they
   * are, since they say nothing about clamd.
   *
   * A stream longer than clamd's StreamMaxLength resolves as `unscannable` (reason
   * 'stream-limit'), however clamd's refusal reaches us. clamd answers "INSTREAM
   * size limit exceeded" and hangs up at once, with our next frames unread, so the
   * hang-up is a reset; when the reset fails a write before the reply was read,
   * Node tears the socket down and the reply, though it had arrived, is lost. So
   * when the connection breaks after frames were sent, the client asks clamd
   * directly (see `exceedsStreamLimit`) whether a stream of that length is over its
   * limit: only a definite yes makes the scan unscannable; anything else keeps the
   * original error.
   */
  async scan(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ScanVerdict> {
    // A body that lends its bytes (an S3 body on the direct path) is read without copies.
    const lending = isLendingBody(source) ? source : undefined;
    const iterator = (lending ? lending.lend() : source)[Symbol.asyncIterator]();
    let consumed = false;
    let pendingRead: Promise<IteratorResult<Uint8Array>> | undefined;
    let connection: Connection | undefined;
    let number = 1;
    const framing: Framing = {
      unsent: [INSTREAM],
      framed: 0,
      written: false,
      release: lending && ((chunk) => lending.release(chunk)),
    };
    try {
      throwIfAborted(signal);
      // With sessions: a kept connection, or a new one that starts its session first.
      const kept = this.#sessions?.take();
      number = (kept?.commands ?? 0) + 1;
      if (this.#sessions && !kept) framing.unsent = [IDSESSION, INSTREAM];
      connection = new Connection(kept?.socket ?? this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal, {
        keep: this.#sessions !== undefined,
      });
      // The first read runs beside the connect. If its chunk is there once connected
      // (a small body comes with the GetObject response), the command goes out with
      // it; if not, the command goes now, so that clamd is not kept waiting for it.
      pendingRead = iterator.next();
      let firstReady = false;
      pendingRead.then(
        () => (firstReady = true),
        () => (firstReady = true),
      );
      await connection.connected();
      // (A kept session is not waiting for anything: the command goes with the first frame.)
      if (!firstReady && !kept) await this.#sendFrames(connection, undefined, framing, false);

      let reply: Buffer;
      try {
        // Each chunk is held until the next read says whether it is the last, so that
        // the command, a small file's one frame and the terminator leave in one write.
        let held: Uint8Array | undefined;
        let sent = 0;
        while (!connection.settled) {
          pendingRead ??= iterator.next();
          const read = await connection.unlessSettled(pendingRead);
          if (read === undefined) break; // clamd answered or went away while the source was read
          pendingRead = undefined;
          if (read.value.done === true) {
            consumed = true;
            break;
          }
          const chunk: unknown = read.value.value;
          if (!(chunk instanceof Uint8Array)) {
            throw new TypeError(`scan source must yield Uint8Array chunks, got ${typeof chunk}`);
          }
          if (sent + chunk.byteLength > this.#maxStreamBytes) {
            // What was within the limit goes out first, as it would have unheld.
            if (held) await this.#sendFrames(connection, held, framing, false);
            throw new ClamdError(
              'limit',
              `stream exceeds the limit of ${this.#maxStreamBytes} bytes (${sent} sent, next chunk ${chunk.byteLength})`,
            );
          }
          sent += chunk.byteLength;
          // An empty frame is the end-of-stream marker, so an empty chunk is skipped.
          if (chunk.byteLength === 0) continue;
          if (held) await this.#sendFrames(connection, held, framing, false);
          held = chunk;
        }
        if (consumed) await this.#sendFrames(connection, held, framing, true);
        reply = await connection.reply();
      } catch (error) {
        // clamd refuses a long stream with a reset, which can fail a write as well as
        // the read, before its reply is seen: then ask clamd whether that length is
        // over its limit.
        if (error instanceof ClamdError && error.kind === 'closed' && framing.framed > 0) {
          if (await this.exceedsStreamLimit(framing.framed, signal)) return streamLimitExceeded();
        }
        throw error;
      }
      if (this.#sessions) {
        const unprefixed = sessionReply(reply, number);
        if (!unprefixed) {
          throw new ClamdError('reply', `clamd's session reply is not numbered ${number}: ${describeBytes(reply)}`, {
            reply: describeBytes(reply),
          });
        }
        reply = unprefixed;
      }
      // clamd refuses a stream as soon as a frame would take it past StreamMaxLength,
      // so this reply can come before the end; it is a verdict on the stream either way.
      if (isStreamLimitReply(reply)) return streamLimitExceeded();
      if (!consumed) {
        // Whatever else clamd said, it did not see the whole object, so no verdict.
        throw new ClamdError('reply', `clamd replied before the end of the stream: ${describeBytes(reply)}`, {
          reply: describeBytes(reply),
        });
      }
      const parsed = parseScanReply(reply);
      if (parsed.status === 'error') throw new ClamdError('reply', parsed.message, { reply: describeBytes(reply) });
      // A verdict on the whole stream: the session may serve the next scan.
      const socket = this.#sessions && connection.detach();
      if (socket) this.#sessions?.give({ socket, commands: number, idleSince: 0 });
      return parsed;
    } finally {
      connection?.close();
      if (!consumed) await closeSource(source, iterator, pendingRead);
    }
  }

  /**
   * Whether clamd refuses an INSTREAM of `bytes` bytes as over its StreamMaxLength.
   *
   * clamd checks each frame's stated length against what is left of its limit as
   * soon as it reads the frame header, before any of the frame's data. So this sends
   * INSTREAM, one header stating `bytes`, and no data, then closes its sending side:
   * over the limit, clamd answers "INSTREAM size limit exceeded" (having read
   * everything sent, it hangs up cleanly, so the answer cannot be lost to a reset);
   * within it, clamd sees the end of the connection while waiting for data and
   * hangs up without a word. Any failure to get a definite answer is false.
   */
  async exceedsStreamLimit(bytes: number, signal?: AbortSignal): Promise<boolean> {
    if (!(bytes > 0)) return false;
    const header = lengthHeader(Math.min(Math.ceil(bytes), MAX_FRAME_BYTES));
    const connection = new Connection(this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal);
    try {
      await connection.connected();
      await connection.write([INSTREAM, header]);
      connection.finish();
      return isStreamLimitReply(await connection.reply());
    } catch {
      return false;
    } finally {
      connection.close();
    }
  }

  /**
   * Frames `chunk` (at most chunkBytes a frame) and writes the frames, after
   * whatever is still unsent (the command, before the first write), and the
   * terminator when `last`. Headers, chunks and terminator go out corked, in one
   * writev per frame, nothing copied. A lent chunk is released once the socket
   * has written its last frame (not when this resolves: the socket may still
   * hold it below its high-water mark), and never if the write fails.
   */
  async #sendFrames(connection: Connection, chunk: Uint8Array | undefined, framing: Framing, last: boolean): Promise<void> {
    const size = chunk?.byteLength ?? 0;
    let offset = 0;
    do {
      if (connection.settled) return;
      const buffers = framing.unsent;
      framing.unsent = [];
      if (chunk && offset < size) {
        const piece = chunk.subarray(offset, offset + this.#chunkBytes);
        offset += piece.byteLength;
        framing.framed += piece.byteLength;
        buffers.push(frameHeader(piece.byteLength), piece);
      }
      if (last && offset >= size) buffers.push(END_OF_STREAM);
      // When the socket keeps up, writes and 'drain' complete without the event loop
      // ever polling for input, so an early reply from clamd would go unread until a
      // write failed with EPIPE and took the reply with it. One turn before each write
      // after the first lets the reply arrive first.
      if (framing.written) await nextTurn();
      framing.written = true;
      const { release } = framing;
      await connection.write(buffers, chunk && release && offset >= size ? () => release(chunk) : undefined);
    } while (offset < size);
  }

  async #command(command: Buffer, signal: AbortSignal | undefined): Promise<Buffer> {
    throwIfAborted(signal);
    const connection = new Connection(this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal);
    try {
      await connection.connected();
      await connection.write([command]);
      return await connection.reply();
    } finally {
      connection.close();
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClamdError('aborted', 'clamd request aborted', { cause: signal.reason });
}

interface Destroyable {
  destroy(error?: Error): unknown;
  destroyed?: boolean;
}

async function closeSource(
  source: AsyncIterable<Uint8Array>,
  iterator: AsyncIterator<Uint8Array>,
  pendingRead: Promise<IteratorResult<Uint8Array>> | undefined,
): Promise<void> {
  const stream = source as Partial<Destroyable>;
  if (typeof stream.destroy === 'function' && stream.destroyed !== true) stream.destroy();
  try {
    const closing = Promise.resolve(iterator.return?.());
    if (pendingRead) {
      // return() on an async generator queues behind the read in flight, which a
      // stalled source may never finish: ask, but do not wait. Both may reject
      // once the source is closed; nobody wants either result.
      pendingRead.catch(() => undefined);
      closing.catch(() => undefined);
    } else {
      await closing;
    }
  } catch {
    // The scan has already failed; a source that also fails to close adds nothing.
  }
}

function validateAddress(address: ClamdAddress): ClamdAddress {
  if (address.kind === 'tcp') {
    if (!Number.isInteger(address.port) || address.port < 1 || address.port > 65_535) {
      throw new RangeError(`clamd TCP port must be from 1 to 65535, got ${address.port}`);
    }
    if (address.host.length === 0) throw new RangeError('clamd host must not be empty');
  } else if (address.path.length === 0) {
    throw new RangeError('clamd socket path must not be empty');
  }
  return address;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}
