/**
 * A small client for clamd's socket protocol: PING, VERSION and INSTREAM, one
 * connection per command.
 *
 * The contract that matters: `scan` resolves only with a verdict clamd actually
 * gave: clean or infected for the whole stream, or unscannable when clamd said it
 * could not inspect all of it (a scan limit, encryption, a stream longer than its
 * StreamMaxLength). Every other outcome (no connection, a stall, an unknown or
 * early reply, a closed socket, a stream over the client's own limit, an abort) is
 * a rejection, so "could not scan" can never be mistaken for "clean".
 */
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorMessage } from '../shared/errors.ts';
import {
  describeBytes,
  isStreamLimitReply,
  parseScanReply,
  parseVersionReply,
  streamLimitExceeded,
  type EngineInfo,
  type ScanVerdict,
} from './reply.ts';

export type ClamdAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'socket'; path: string };

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
}

export type { ScanVerdict };

export type ClamdErrorKind = 'connect' | 'timeout' | 'closed' | 'reply' | 'limit' | 'aborted';

export class ClamdError extends Error {
  readonly kind: ClamdErrorKind;
  /** clamd's reply, escaped, when the failure is about what clamd said. */
  readonly reply: string | undefined;

  constructor(kind: ClamdErrorKind, message: string, options?: { cause?: unknown; reply?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClamdError';
    this.kind = kind;
    this.reply = options?.reply;
  }
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * 64 KiB: as large as the chunks an S3 body or a file stream usually delivers, so
 * they mostly pass through whole (no copy, one frame each) and the 4-byte header
 * costs nothing; small enough that at most this much is committed to a connection
 * clamd may already have refused.
 */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** A real reply is a few dozen bytes; the cap only stops a misbehaving peer. */
const MAX_REPLY_BYTES = 8 * 1024;

/** INSTREAM frame lengths are unsigned 32-bit. */
const MAX_FRAME_BYTES = 0xffff_ffff;

const PING = Buffer.from('zPING\0');
const VERSION = Buffer.from('zVERSION\0');
const INSTREAM = Buffer.from('zINSTREAM\0');
const END_OF_STREAM = Buffer.alloc(4);

export class ClamdClient {
  readonly #address: ClamdAddress;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #maxStreamBytes: number;
  readonly #chunkBytes: number;

  constructor(options: ClamdClientOptions) {
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
    const iterator = source[Symbol.asyncIterator]();
    let consumed = false;
    let pendingRead: Promise<IteratorResult<Uint8Array>> | undefined;
    let connection: Connection | undefined;
    /** Bytes put in frames so far, the one being written included. */
    const progress = { framed: 0 };
    try {
      throwIfAborted(signal);
      connection = new Connection(this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal);
      await connection.connected();
      await connection.write(INSTREAM);

      let sent = 0;
      while (!connection.settled) {
        pendingRead = iterator.next();
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
          throw new ClamdError(
            'limit',
            `stream exceeds the limit of ${this.#maxStreamBytes} bytes (${sent} sent, next chunk ${chunk.byteLength})`,
          );
        }
        sent += chunk.byteLength;
        await this.#sendFrames(connection, chunk, progress);
      }

      if (consumed) await connection.write(END_OF_STREAM);
      let reply: Buffer;
      try {
        reply = await connection.reply();
      } catch (error) {
        if (error instanceof ClamdError && error.kind === 'closed' && progress.framed > 0) {
          if (await this.exceedsStreamLimit(progress.framed, signal)) return streamLimitExceeded();
        }
        throw error;
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
    const header = Buffer.alloc(4);
    header.writeUInt32BE(Math.min(Math.ceil(bytes), MAX_FRAME_BYTES), 0);
    const connection = new Connection(this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal);
    try {
      await connection.connected();
      await connection.write(INSTREAM, header);
      connection.finish();
      return isStreamLimitReply(await connection.reply());
    } catch {
      return false;
    } finally {
      connection.close();
    }
  }

  async #sendFrames(connection: Connection, chunk: Uint8Array, progress: { framed: number }): Promise<void> {
    // An empty frame is the end-of-stream marker, so an empty chunk is skipped.
    for (let offset = 0; offset < chunk.byteLength && !connection.settled; offset += this.#chunkBytes) {
      const piece = chunk.subarray(offset, offset + this.#chunkBytes);
      progress.framed += piece.byteLength;
      // When the socket keeps up, writes and 'drain' complete without the event loop
      // ever polling for input, so an early reply from clamd would go unread until a
      // write failed with EPIPE and took the reply with it. One turn per frame lets
      // the reply arrive first.
      await nextTurn();
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(piece.byteLength, 0);
      await connection.write(header, piece);
    }
  }

  async #command(command: Buffer, signal: AbortSignal | undefined): Promise<Buffer> {
    throwIfAborted(signal);
    const connection = new Connection(this.#address, this.#connectTimeoutMs, this.#idleTimeoutMs, signal);
    try {
      await connection.connected();
      await connection.write(command);
      return await connection.reply();
    } finally {
      connection.close();
    }
  }
}

type Outcome = { ok: true; reply: Buffer } | { ok: false; error: ClamdError };

/**
 * One socket and its reply. Whatever happens first (a complete reply, an error, a
 * close, a timeout, an abort) settles it once; settling destroys the socket and
 * wakes anyone waiting, so every path ends with the socket gone and its listeners
 * and timer released with it.
 */
class Connection {
  readonly #socket: Socket;
  readonly #signal: AbortSignal | undefined;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  /** Woken once, when the connection settles. */
  readonly #wakers = new Set<() => void>();
  #connectWaiter: (() => void) | undefined;
  readonly #replyChunks: Buffer[] = [];
  #replyBytes = 0;
  #isConnected = false;
  #outcome: Outcome | undefined;

  constructor(address: ClamdAddress, connectTimeoutMs: number, idleTimeoutMs: number, signal: AbortSignal | undefined) {
    this.#signal = signal;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#socket = address.kind === 'tcp' ? connect({ host: address.host, port: address.port }) : connect({ path: address.path });
    // Until 'connect' the socket timeout is the connect deadline; after it, the idle
    // limit. Node resets it on every read and write, which is exactly "no bytes in
    // either direction", and clears it when the socket is destroyed.
    this.#socket.setTimeout(connectTimeoutMs);
    this.#socket.on('connect', this.#onConnect);
    this.#socket.on('data', this.#onData);
    this.#socket.on('end', this.#onEnd);
    this.#socket.on('timeout', this.#onTimeout);
    this.#socket.on('error', this.#onError);
    this.#socket.on('close', this.#onClose);
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get settled(): boolean {
    return this.#outcome !== undefined;
  }

  async connected(): Promise<void> {
    if (!this.#isConnected && !this.#outcome) {
      await new Promise<void>((resolve) => {
        this.#connectWaiter = resolve;
        this.#wakers.add(resolve);
      });
      this.#connectWaiter = undefined;
    }
    if (this.#outcome && !this.#outcome.ok) throw this.#outcome.error;
  }

  /** Writes the buffers as one unit and waits out backpressure. No-op once settled. */
  async write(...buffers: Uint8Array[]): Promise<void> {
    if (this.#outcome) return;
    // Corked, the header and the chunk go out in one writev without being copied
    // into a single buffer.
    this.#socket.cork();
    let flowing = true;
    for (const buffer of buffers) flowing = this.#socket.write(buffer);
    this.#socket.uncork();
    if (!flowing) await this.#waitForDrain();
  }

  /** `promise`'s value, or undefined if the connection settles first. */
  async unlessSettled<T>(promise: Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#outcome) return undefined;
    return new Promise((resolve, reject) => {
      const wake = () => resolve(undefined);
      this.#wakers.add(wake);
      promise.then(
        (value) => {
          this.#wakers.delete(wake);
          resolve({ value });
        },
        (error: unknown) => {
          this.#wakers.delete(wake);
          reject(error);
        },
      );
    });
  }

  /** The reply bytes (terminator excluded) once it is complete; rejects otherwise. */
  async reply(): Promise<Buffer> {
    const outcome = this.#outcome ?? (await this.#settlement());
    if (!outcome.ok) throw outcome.error;
    return outcome.reply;
  }

  close(): void {
    if (this.#outcome) return;
    this.#settle({ ok: false, error: new ClamdError('closed', 'connection closed by the client') });
  }

  /** Ends the sending side once what was written is flushed; the reply can still arrive. */
  finish(): void {
    if (!this.#outcome) this.#socket.end();
  }

  #settlement(): Promise<Outcome> {
    return new Promise((resolve) => {
      this.#wakers.add(() => {
        if (this.#outcome) resolve(this.#outcome);
      });
    });
  }

  #waitForDrain(): Promise<void> {
    if (this.#outcome) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.#socket.off('drain', wake);
        this.#wakers.delete(wake);
        resolve();
      };
      this.#socket.on('drain', wake);
      this.#wakers.add(wake);
    });
  }

  #settle(outcome: Outcome): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    // The socket keeps its 'error' listener so nothing it emits while being torn
    // down can surface as an unhandled error.
    this.#socket.destroy();
    this.#wake();
  }

  #wake(): void {
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const wake of wakers) wake();
  }

  #fail(kind: ClamdErrorKind, message: string, cause?: unknown): void {
    // Settled already (the usual case once the reply is in): an Error, with its
    // stack, would be built for nothing on every scan.
    if (this.#outcome) return;
    this.#settle({ ok: false, error: new ClamdError(kind, message, { cause }) });
  }

  #partialReply(): string {
    return this.#replyBytes === 0 ? '' : ` after a partial reply ${describeBytes(Buffer.concat(this.#replyChunks))}`;
  }

  readonly #onConnect = (): void => {
    this.#isConnected = true;
    this.#socket.setTimeout(this.#idleTimeoutMs);
    if (this.#connectWaiter) {
      this.#wakers.delete(this.#connectWaiter);
      this.#connectWaiter();
    }
  };

  readonly #onData = (data: Buffer): void => {
    if (this.#outcome) return;
    const end = data.indexOf(0);
    const part = end === -1 ? data : data.subarray(0, end);
    if (this.#replyBytes + part.length > MAX_REPLY_BYTES) {
      this.#replyChunks.push(part.subarray(0, MAX_REPLY_BYTES - this.#replyBytes));
      this.#fail(
        'reply',
        `clamd sent more than ${MAX_REPLY_BYTES} bytes without ending its reply: ${describeBytes(Buffer.concat(this.#replyChunks))}`,
      );
      return;
    }
    this.#replyChunks.push(part);
    this.#replyBytes += part.length;
    if (end !== -1) this.#settle({ ok: true, reply: Buffer.concat(this.#replyChunks) });
  };

  readonly #onEnd = (): void => {
    // "z" replies end with NUL, but a reply that ends with the connection instead is
    // still complete; an empty one is not a reply at all.
    if (this.#replyBytes > 0) this.#settle({ ok: true, reply: Buffer.concat(this.#replyChunks) });
    else this.#fail('closed', 'clamd closed the connection without replying');
  };

  readonly #onTimeout = (): void => {
    if (this.#isConnected) this.#fail('timeout', `no data moved to or from clamd for ${this.#idleTimeoutMs} ms${this.#partialReply()}`);
    else this.#fail('connect', `could not connect to clamd within ${this.#connectTimeoutMs} ms`);
  };

  readonly #onError = (error: NodeJS.ErrnoException): void => {
    const code = error.code ?? error.message;
    if (!this.#isConnected) {
      this.#fail('connect', `could not connect to clamd: ${code}`, error);
    } else if (code === 'EPIPE' || code === 'ECONNRESET') {
      // clamd closes a stream it refuses (over StreamMaxLength) right after saying
      // so; with our unread data still queued the close becomes a reset, and when the
      // reset reaches a write before the reply was read, Node drops the reply along
      // with the socket. scan() then asks clamd whether that was it (see
      // exceedsStreamLimit); an error that gets this far means clamd went away.
      this.#fail('closed', `clamd reset the connection (${code})${this.#partialReply()}`, error);
    } else {
      this.#fail('closed', `connection to clamd failed: ${code}${this.#partialReply()}`, error);
    }
  };

  readonly #onClose = (): void => {
    this.#fail('closed', `clamd closed the connection before replying${this.#partialReply()}`);
  };

  readonly #onAbort = (): void => {
    this.#fail('aborted', 'clamd request aborted', this.#signal?.reason);
  };
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
