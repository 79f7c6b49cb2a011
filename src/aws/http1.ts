/**
 * The HTTP/1.1 client under the worker's hot AWS calls (src/aws/signed-http.ts),
 * in place of node:http's: keep-alive sockets per endpoint, each request written
 * in one go, each response read by a small parser (status line, headers, a body
 * framed by Content-Length, chunked coding or the end of the connection).
 *
 * Why not node:http: per request it builds a ClientRequest, an agent entry, an
 * llhttp parser round trip through JavaScript callbacks and a stream for the body,
 * and every socket read lands in a freshly allocated 64 KiB buffer that only the
 * garbage collector gives back. For small files that was about a quarter of the
 * worker's CPU; for large ones most of it went to the collector
 * (docs/benchmarks.md, "Worker CPU", and bench/history.md).
 *
 * Sockets read into buffers this client keeps (net's `onread`). A body is taken
 * in one of two ways:
 * - as copies (`for await`, `text`): each piece is copied out of the read buffer,
 *   which is reused at once;
 * - lent (`lend`): the pieces are views of the read buffers, and a buffer is read
 *   into again only after every view of it was handed back with `release`. The
 *   clamd client lends an object's body this way: a view is released once clamd's
 *   socket has taken it (src/scan/clamd-client.ts), so a large object streams
 *   through a handful of buffers with nothing copied and nothing left to collect.
 *   A view that is never released is simply never reused (the collector takes it).
 *   A lent piece is handed out once the next has begun or the body has ended:
 *   reads that land side by side in one buffer (each TLS record is a read of its
 *   own) join it meanwhile, so a small object reaches clamd as one frame, in one
 *   write, and a large one in pieces of most of a buffer.
 *
 * A body is read no faster than it is taken: reading pauses while three pieces wait.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/** Where requests go. */
export interface HttpTarget {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
}

export interface HttpRequest {
  target: HttpTarget;
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Lower-case names, Host included; values without CR, LF or characters above U+00FF. */
  headers: Record<string, string>;
  body?: Buffer | undefined;
  signal?: AbortSignal | undefined;
}

export interface HttpPoolOptions {
  /** Sockets per endpoint at once; more requests wait for one. */
  maxSockets: number;
  connectTimeoutMs: number;
  /** How long a socket may sit silent while a request is under way. */
  socketTimeoutMs: number;
  /** How long an unused socket is kept (shorter when the server says so in Keep-Alive). */
  idleMs?: number;
  /** Certificates to trust for https in place of Node's (tests; the worker trusts Node's store and NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
}

const READ_BYTES = 64 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 4 * 1024;
/** Pieces of a body waiting to be taken before reading pauses. */
const QUEUE_LIMIT = 3;
/** Lent pieces queued before the first is handed out (unless the body has ended): the last may still grow. */
const READY_PIECES = 2;
/** Less than this left in a read buffer, and the next read takes a new one (a TLS record is up to 16 KiB). */
const MIN_TAIL = 16 * 1024 + 64;
/** Read buffers kept for reuse beyond those in use. */
const FREE_LIMIT = 16;
const DEFAULT_IDLE_MS = 15_000;
const SWEEP_MS = 1_000;

function networkError(message: string, code: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/**
 * Read buffers, shared by a pool's sockets. A socket fills one buffer read after
 * read (a TLS record is at most 16 KiB, so four can land side by side) and takes
 * a new one when too little is left. A buffer is free again once no socket is
 * filling it and every view lent from it has come back through `release`.
 */
class ReadBuffers {
  readonly #free: Buffer[] = [];
  /** Views lent out, by their buffer: how many of each are still out. */
  readonly #lent = new WeakMap<ArrayBufferLike, number>();
  readonly #views = new WeakSet<Uint8Array>();
  readonly #filling = new WeakSet<ArrayBufferLike>();

  /** A whole buffer for a socket to fill. */
  take(): Buffer {
    const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
    this.#filling.add(buffer.buffer);
    return buffer;
  }

  /** A socket is done filling `buffer`. */
  retire(buffer: Buffer): void {
    this.#filling.delete(buffer.buffer);
    if (!this.#lent.has(buffer.buffer)) this.#keep(buffer);
  }

  isLent(buffer: Buffer): boolean {
    return this.#lent.has(buffer.buffer);
  }

  lend(view: Buffer): void {
    this.#views.add(view);
    this.#lent.set(view.buffer, (this.#lent.get(view.buffer) ?? 0) + 1);
  }

  /** Two lent views side by side in one buffer, as one (lent in their place). */
  merge(first: Buffer, second: Buffer): Buffer {
    const merged = Buffer.from(first.buffer, first.byteOffset, first.byteLength + second.byteLength);
    this.#views.delete(first);
    this.#views.add(merged);
    return merged;
  }

  /** A lent view handed back. */
  release(view: Uint8Array): void {
    if (!this.#views.delete(view)) return;
    const left = (this.#lent.get(view.buffer) ?? 1) - 1;
    if (left > 0) {
      this.#lent.set(view.buffer, left);
      return;
    }
    this.#lent.delete(view.buffer);
    if (!this.#filling.has(view.buffer)) this.#keep(Buffer.from(view.buffer, 0, READ_BYTES));
  }

  #keep(buffer: Buffer): void {
    if (this.#free.length < FREE_LIMIT) this.#free.push(buffer);
  }
}

/** Whether `second` starts where `first` ends, in the same buffer. */
const adjoins = (first: Buffer, second: Buffer) =>
  first.buffer === second.buffer && first.byteOffset + first.byteLength === second.byteOffset;

type Mode = 'undecided' | 'copy' | 'lend' | 'discard';

/** A response: status and headers, and its body to be taken once (see the module comment). */
export class HttpResponse implements AsyncIterable<Buffer> {
  readonly statusCode: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  #link: Link | undefined;
  readonly #buffers: ReadBuffers;
  #mode: Mode = 'undecided';
  readonly #queue: Buffer[] = [];
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #destroyed = false;

  constructor(statusCode: number, headers: Record<string, string>, link: Link, buffers: ReadBuffers) {
    this.statusCode = statusCode;
    this.headers = headers;
    this.#link = link;
    this.#buffers = buffers;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** From the link: a piece of the body, a view of its read buffer. Returns whether to go on reading. */
  piece(view: Buffer): boolean {
    if (this.#destroyed || this.#mode === 'discard') return true;
    const last = this.#queue.length - 1;
    if (this.#mode === 'copy') this.#queue.push(Buffer.from(view));
    else if (last >= 0 && adjoins(this.#queue[last]!, view)) this.#queue[last] = this.#buffers.merge(this.#queue[last]!, view);
    else {
      this.#buffers.lend(view);
      this.#queue.push(view);
    }
    // A reader of lent pieces is woken when one is ready for it, not at every read:
    // the reads that land side by side in one buffer (a TLS record each) reach it as
    // one piece, and a small body as one piece at its end (`end`).
    if (this.#ready) this.#wake?.();
    return this.#queue.length < QUEUE_LIMIT;
  }

  /**
   * Whether the first queued piece may go to the reader: copies at once; a lent
   * piece once another is behind it or the body has ended (until then, what the
   * next reads bring may still join it).
   */
  get #ready(): boolean {
    return this.#mode !== 'lend' || this.#queue.length >= READY_PIECES || this.#done || this.#error !== undefined;
  }

  /** From the link: the body is complete. */
  end(): void {
    this.#done = true;
    this.#link = undefined;
    this.#wake?.();
  }

  /** From the link: the body cannot be complete. */
  fail(error: Error): void {
    if (this.#done) return;
    this.#error ??= error;
    this.#link = undefined;
    this.#wake?.();
  }

  async #take(): Promise<Buffer | undefined> {
    for (;;) {
      const view = this.#ready ? this.#queue.shift() : undefined;
      if (view) {
        if (this.#queue.length < QUEUE_LIMIT) this.#link?.resume();
        return view;
      }
      if (this.#error) throw this.#error;
      if (this.#done) return undefined;
      this.#link?.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  #iterator(mode: 'copy' | 'lend'): AsyncIterator<Buffer> {
    if (this.#mode !== 'undecided') throw new Error(`the response body is already being read (${this.#mode})`);
    this.#mode = mode;
    if (mode === 'copy') {
      // What arrived with the headers was held lent; copy it and let the buffers go.
      for (let index = 0; index < this.#queue.length; index += 1) {
        const view = this.#queue[index]!;
        this.#queue[index] = Buffer.from(view);
        this.#buffers.release(view);
      }
    }
    return {
      next: async () => {
        const value = await this.#take();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        this.destroy();
        return { value: undefined, done: true };
      },
    };
  }

  /** The body as copies: each piece is the reader's to keep. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#iterator('copy');
  }

  /** The body as views lent from the read buffers: each must go back through `release` to be reused. */
  lend(): AsyncIterable<Buffer> {
    const iterator = this.#iterator('lend');
    return { [Symbol.asyncIterator]: () => iterator };
  }

  release(view: Uint8Array): void {
    this.#buffers.release(view);
  }

  /** The whole body as UTF-8 text; fails past `limit` bytes. */
  async text(limit: number): Promise<string> {
    const pieces: Buffer[] = [];
    let bytes = 0;
    for await (const piece of this) {
      bytes += piece.length;
      if (bytes > limit) {
        this.destroy();
        throw new Error(`response body longer than ${limit} bytes`);
      }
      pieces.push(piece);
    }
    return pieces.length === 1 ? pieces[0]!.toString('utf8') : Buffer.concat(pieces).toString('utf8');
  }

  /** Reads the body to its end and drops it, so that the socket can serve the next request. */
  resume(): void {
    if (this.#mode !== 'undecided') return;
    this.#mode = 'discard';
    for (const view of this.#queue.splice(0)) this.#buffers.release(view);
    this.#link?.resume();
  }

  /** Stops reading; the socket is closed unless the body was already complete. */
  destroy(error?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const view of this.#queue.splice(0)) this.#buffers.release(view);
    if (!this.#done) {
      this.#error ??= error ?? networkError('response destroyed before its end', 'ERR_STREAM_DESTROYED');
      this.#link?.destroy(this.#error);
      this.#link = undefined;
    }
    this.#wake?.();
  }
}

type State =
  | { kind: 'idle' }
  | { kind: 'head'; text: string }
  /** Body bytes still to come: the rest of a Content-Length body, or of one chunk. */
  | { kind: 'body'; left: number; chunked: boolean }
  | { kind: 'chunk-size'; text: string }
  | { kind: 'chunk-end'; text: string }
  | { kind: 'trailers'; text: string }
  | { kind: 'until-close' };

interface Exchange {
  method: string;
  resolve(response: HttpResponse): void;
  reject(error: Error): void;
  response: HttpResponse | undefined;
  written: boolean;
  /** Bytes of the answer seen, to tell a stale kept socket from a failure. */
  seen: number;
  keepAlive: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A request failed on a kept socket before any of its answer came: the server had closed it. */
class StaleSocket extends Error {}

/** One socket to one endpoint, serving one request at a time. */
class Link {
  readonly socket: Socket;
  readonly #pool: HttpPool;
  readonly #key: string;
  readonly #buffers: ReadBuffers;
  #state: State = { kind: 'idle' };
  #exchange: Exchange | undefined;
  #paused = false;
  #closed = false;
  #connected = false;
  #used = false;
  /** When it was last parked unused (performance.now()), 0 while in use. */
  #parkedAt = 0;
  /** The read buffer being filled, and how far. */
  #fill: Buffer | undefined;
  #filled = 0;
  /** From the server's Keep-Alive header. */
  #idleMs: number;

  constructor(pool: HttpPool, key: string, target: HttpTarget, options: HttpPoolOptions, buffers: ReadBuffers) {
    this.#pool = pool;
    this.#key = key;
    this.#buffers = buffers;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    const onread = {
      // The rest of the buffer being filled, or a new one when too little is left.
      buffer: () => {
        if (this.#fill && READ_BYTES - this.#filled < MIN_TAIL) {
          buffers.retire(this.#fill);
          this.#fill = undefined;
        }
        if (!this.#fill) {
          this.#fill = buffers.take();
          this.#filled = 0;
        }
        return this.#fill.subarray(this.#filled);
      },
      callback: (bytes: number, buffer: Buffer) => {
        const more = this.#read(buffer, bytes);
        // Nothing of the buffer lent: the next read may start at its beginning.
        if (this.#fill) this.#filled = buffers.isLent(this.#fill) ? this.#filled + bytes : 0;
        if (!more) this.#paused = true;
        return more;
      },
    };
    const port = target.port ?? (target.protocol === 'https:' ? 443 : 80);
    const session = target.protocol === 'https:' ? pool.tlsSession(key) : undefined;
    this.socket =
      target.protocol === 'https:'
        ? tlsConnect({
            host: target.hostname,
            port,
            ...(isIP(target.hostname) ? {} : { servername: target.hostname }),
            ALPNProtocols: ['http/1.1'],
            ...(options.ca ? { ca: options.ca } : {}),
            // A new socket resumes the last TLS session with the endpoint, as node:https's agent does.
            ...(session ? { session } : {}),
            // Node's TLS sockets take onread as plain ones do; its types do not say so.
            onread,
          } as ConnectionOptions)
        : netConnect({ host: target.hostname, port, onread, noDelay: true });
    if (target.protocol === 'https:') {
      this.socket.setNoDelay(true);
      this.socket.on('session', (session: Buffer) => pool.keepTlsSession(key, session));
    }
    const connectTimer = setTimeout(
      () =>
        this.destroy(
          Object.assign(networkError(`could not connect to ${key} within ${options.connectTimeoutMs} ms`, 'ETIMEDOUT'), {
            name: 'TimeoutError',
          }),
        ),
      options.connectTimeoutMs,
    );
    this.socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      this.#connected = true;
    });
    this.socket.on('timeout', () =>
      this.destroy(Object.assign(networkError(`socket idle for ${options.socketTimeoutMs} ms`, 'ETIMEDOUT'), { name: 'TimeoutError' })),
    );
    this.socket.setTimeout(options.socketTimeoutMs);
    this.socket.on('error', (error) => this.destroy(error));
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.#state.kind === 'until-close' && this.#exchange) this.#complete(false);
      this.destroy(networkError('socket hang up', 'ECONNRESET'));
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one request; resolves with its response once the headers are in. */
  exchange(request: HttpRequest, head: string): Promise<HttpResponse> {
    if (this.#exchange || this.#closed) throw new Error('socket busy or closed');
    this.#parkedAt = 0;
    const reused = this.#used;
    this.#used = true;
    return new Promise<HttpResponse>((resolve, reject) => {
      const exchange: Exchange = {
        method: request.method,
        resolve,
        reject: (error) =>
          reject(reused && exchange.seen === 0 && this.#connected ? new StaleSocket(error.message, { cause: error }) : error),
        response: undefined,
        written: false,
        seen: 0,
        keepAlive: true,
        signal: request.signal,
        onAbort: undefined,
      };
      this.#exchange = exchange;
      this.#state = { kind: 'head', text: '' };
      if (request.signal) {
        exchange.onAbort = () => this.destroy(abortError(request.signal!));
        request.signal.addEventListener('abort', exchange.onAbort, { once: true });
      }
      const done = (error?: Error | null) => {
        if (error) this.destroy(error);
        else {
          exchange.written = true;
          if (this.#exchange !== exchange && !this.#closed) this.#pool.idle(this.#key, this);
        }
      };
      this.socket.cork();
      if (request.body && request.body.length > 0) {
        this.socket.write(head, 'latin1');
        this.socket.write(request.body, done);
      } else {
        this.socket.write(head, 'latin1', done);
      }
      this.socket.uncork();
      this.resume();
    });
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** Kept for the next request, closed after a while unused. */
  park(now: number): void {
    this.#parkedAt = now;
  }

  /** Unused for longer than it may be kept. */
  expired(now: number): boolean {
    return this.#parkedAt > 0 && now - this.#parkedAt > this.#idleMs;
  }

  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    const exchange = this.#exchange;
    this.#exchange = undefined;
    if (exchange) {
      const failure = error ?? networkError('socket closed', 'ECONNRESET');
      this.#finish(exchange);
      if (exchange.response) exchange.response.fail(failure);
      else exchange.reject(failure);
    }
    this.socket.destroy();
    if (this.#fill) this.#buffers.retire(this.#fill);
    this.#fill = undefined;
    this.#pool.forget(this.#key, this);
  }

  #finish(exchange: Exchange): void {
    if (exchange.onAbort) exchange.signal?.removeEventListener('abort', exchange.onAbort);
  }

  /** The response's end: the socket serves the next request, or closes. */
  #complete(keepAlive: boolean): void {
    const exchange = this.#exchange!;
    this.#exchange = undefined;
    this.#state = { kind: 'idle' };
    this.#finish(exchange);
    exchange.response!.end();
    if (!keepAlive || !exchange.keepAlive) this.destroy();
    else if (exchange.written) this.#pool.idle(this.#key, this);
  }

  /** Parses what a read brought; returns whether to go on reading. */
  #read(buffer: Buffer, end: number): boolean {
    let at = 0;
    let more = true;
    if (this.#exchange) this.#exchange.seen += end;
    try {
      while (at < end && !this.#closed) {
        const state = this.#state;
        const exchange = this.#exchange;
        if (!exchange || state.kind === 'idle') throw networkError('the server sent bytes nobody asked for', 'HPE_UNEXPECTED');
        switch (state.kind) {
          case 'head': {
            // Usually the whole head is in one read: found in the bytes, only the head made text.
            if (state.text === '') {
              const found = buffer.subarray(at, end).indexOf(HEAD_END);
              if (found !== -1) {
                this.#head(exchange, buffer.toString('latin1', at, at + found));
                at += found + 4;
                break;
              }
            }
            const before = state.text.length;
            const text = state.text + buffer.toString('latin1', at, end);
            const stop = text.indexOf('\r\n\r\n', Math.max(0, before - 3));
            if (stop === -1) {
              if (text.length > MAX_HEAD_BYTES) throw networkError('response headers too long', 'HPE_HEADER_OVERFLOW');
              state.text = text;
              at = end;
              break;
            }
            at += stop + 4 - before;
            this.#head(exchange, text.slice(0, stop));
            break;
          }
          case 'body': {
            const take = Math.min(state.left, end - at);
            more = exchange.response!.piece(buffer.subarray(at, at + take));
            at += take;
            state.left -= take;
            if (state.left > 0) break;
            // A chunk's data is followed by its CRLF; a Content-Length body ends the response.
            if (state.chunked) this.#state = { kind: 'chunk-end', text: '' };
            else this.#complete(true);
            break;
          }
          case 'chunk-size':
          case 'chunk-end':
          case 'trailers': {
            const newline = buffer.indexOf(10, at);
            const stop = newline === -1 || newline >= end ? end : newline + 1;
            state.text += buffer.toString('latin1', at, stop);
            at = stop;
            if (state.text.length > MAX_LINE_BYTES) throw networkError('chunked coding: line too long', 'HPE_INVALID_CHUNK_SIZE');
            if (!state.text.endsWith('\n')) break;
            this.#line(state);
            break;
          }
          case 'until-close': {
            more = exchange.response!.piece(buffer.subarray(at, end));
            at = end;
            break;
          }
        }
      }
    } catch (error) {
      this.destroy(error as Error);
      return false;
    }
    return more;
  }

  /** A line of the chunked coding: a size, the CRLF after data, or a trailer. */
  #line(state: Extract<State, { kind: 'chunk-size' | 'chunk-end' | 'trailers' }>): void {
    const line = state.text.endsWith('\r\n') ? state.text.slice(0, -2) : state.text.slice(0, -1);
    if (state.kind === 'chunk-end') {
      if (line !== '') throw networkError('chunked coding: data longer than its size', 'HPE_INVALID_CHUNK_SIZE');
      this.#state = { kind: 'chunk-size', text: '' };
    } else if (state.kind === 'trailers') {
      if (line === '') this.#complete(true);
      else state.text = '';
    } else {
      const size = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(size))
        throw networkError(`chunked coding: bad size line ${JSON.stringify(line)}`, 'HPE_INVALID_CHUNK_SIZE');
      const left = Number.parseInt(size, 16);
      this.#state = left === 0 ? { kind: 'trailers', text: '' } : { kind: 'body', left, chunked: true };
    }
  }

  /** The status line and headers; the response goes to the caller, and the body's framing is set. */
  #head(exchange: Exchange, text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
    if (!status) throw networkError(`not an HTTP/1 response: ${JSON.stringify(lines[0]!.slice(0, 60))}`, 'HPE_INVALID_CONSTANT');
    const code = Number(status[2]);
    const headers: Record<string, string> = {};
    for (let index = 1; index < lines.length; index += 1) {
      const line = lines[index]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw networkError(`bad response header line ${JSON.stringify(line.slice(0, 60))}`, 'HPE_INVALID_HEADER_TOKEN');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (code >= 100 && code < 200) {
      // 100 Continue, 103 Early Hints: the answer follows.
      if (code === 101) throw networkError('unexpected protocol switch', 'HPE_UNEXPECTED');
      this.#state = { kind: 'head', text: '' };
      return;
    }
    const connection = (headers['connection'] ?? '').toLowerCase();
    exchange.keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    const hint = /\btimeout=(\d+)/.exec(headers['keep-alive'] ?? '');
    if (hint) this.#idleMs = Math.min(this.#idleMs, Math.max(0, Number(hint[1]) * 1000 - 1000));
    const response = new HttpResponse(code, headers, this, this.#buffers);
    exchange.response = response;
    exchange.resolve(response);
    const length = headers['content-length'];
    if (exchange.method === 'HEAD' || code === 204 || code === 304) {
      this.#complete(true);
    } else if (/\bchunked\s*$/i.test(headers['transfer-encoding'] ?? '')) {
      this.#state = { kind: 'chunk-size', text: '' };
    } else if (headers['transfer-encoding'] !== undefined) {
      throw networkError(`unsupported transfer-encoding ${headers['transfer-encoding']}`, 'HPE_INVALID_TRANSFER_ENCODING');
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) throw networkError(`bad content-length ${JSON.stringify(length)}`, 'HPE_INVALID_CONTENT_LENGTH');
      const left = Number(length);
      if (left === 0) this.#complete(true);
      else this.#state = { kind: 'body', left, chunked: false };
    } else {
      exchange.keepAlive = false;
      this.#state = { kind: 'until-close' };
    }
  }
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const INVALID_HEADER = /[^\t\x20-\x7e\x80-\xff]/;

/** The request line and headers as sent. */
function requestHead(request: HttpRequest): string {
  if (INVALID_HEADER.test(request.path) || request.path.includes(' '))
    throw new TypeError(`invalid request path ${JSON.stringify(request.path)}`);
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  for (const name in request.headers) {
    const value = request.headers[name]!;
    if (INVALID_HEADER.test(value) || INVALID_HEADER.test(name)) throw new TypeError(`invalid character in header ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  if (request.body && request.body.length > 0 && request.headers['content-length'] === undefined)
    head += `content-length: ${request.body.length}\r\n`;
  return `${head}\r\n`;
}

/** Keep-alive sockets per endpoint, at most `maxSockets` each. */
export class HttpPool {
  readonly #options: HttpPoolOptions;
  readonly #buffers = new ReadBuffers();
  readonly #idle = new Map<string, Link[]>();
  readonly #open = new Map<string, Set<Link>>();
  readonly #waiting = new Map<string, Array<(link: Link | Error) => void>>();
  #sweeper: NodeJS.Timeout | undefined;
  /** The last TLS session of each endpoint, for the next socket to resume. */
  readonly #tlsSessions = new Map<string, Buffer>();
  #destroyed = false;

  constructor(options: HttpPoolOptions) {
    this.#options = options;
  }

  async request(request: HttpRequest): Promise<HttpResponse> {
    request.signal?.throwIfAborted();
    const head = requestHead(request);
    const key = `${request.target.protocol}//${request.target.hostname}:${request.target.port ?? ''}`;
    const link = await this.#link(key, request);
    try {
      return await link.exchange(request, head);
    } catch (error) {
      // The server closed a kept socket as we used it: once more, on a new one.
      if (!(error instanceof StaleSocket)) throw error;
      request.signal?.throwIfAborted();
      return (await this.#link(key, request, true)).exchange(request, head);
    }
  }

  /** An idle socket, a new one, or the next one freed. */
  #link(key: string, request: HttpRequest, fresh = false): Promise<Link> {
    if (this.#destroyed) throw networkError('the HTTP pool is closed', 'ERR_HTTP_POOL_CLOSED');
    const idle = this.#idle.get(key);
    const now = performance.now();
    while (!fresh && idle && idle.length > 0) {
      const link = idle.pop()!;
      if (!link.closed && !link.expired(now)) return Promise.resolve(link);
      link.destroy();
    }
    const open = this.#open.get(key) ?? new Set<Link>();
    this.#open.set(key, open);
    if (open.size < this.#options.maxSockets) {
      const link = new Link(this, key, request.target, this.#options, this.#buffers);
      open.add(link);
      return Promise.resolve(link);
    }
    return new Promise<Link>((resolve, reject) => {
      const queue = this.#waiting.get(key) ?? [];
      this.#waiting.set(key, queue);
      const onAbort = () => {
        const index = queue.indexOf(wake);
        if (index !== -1) queue.splice(index, 1);
        reject(abortError(request.signal!));
      };
      const wake = (link: Link | Error) => {
        request.signal?.removeEventListener('abort', onAbort);
        if (link instanceof Error) reject(link);
        else resolve(link);
      };
      queue.push(wake);
      request.signal?.addEventListener('abort', onAbort, { once: true });
    }).then((link) => (link.closed ? this.#link(key, request, fresh) : link));
  }

  tlsSession(key: string): Buffer | undefined {
    return this.#tlsSessions.get(key);
  }

  keepTlsSession(key: string, session: Buffer): void {
    this.#tlsSessions.set(key, session);
  }

  /** A socket whose request is done. */
  idle(key: string, link: Link): void {
    if (link.closed) return;
    const waiter = this.#waiting.get(key)?.shift();
    if (waiter) {
      waiter(link);
      return;
    }
    link.park(performance.now());
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    idle.push(link);
    // Unused sockets are closed by one sweep a second, not a timer each (a timer per request costs).
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  #sweep(): void {
    const now = performance.now();
    let parked = 0;
    for (const idle of this.#idle.values()) {
      for (const link of [...idle]) if (link.expired(now)) link.destroy();
      parked += idle.length;
    }
    if (parked === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** A socket that closed. */
  forget(key: string, link: Link): void {
    this.#open.get(key)?.delete(link);
    const idle = this.#idle.get(key);
    const index = idle?.indexOf(link) ?? -1;
    if (index !== -1) idle!.splice(index, 1);
    // Someone waiting for a socket gets a new one.
    const waiter = this.#waiting.get(key)?.shift();
    if (waiter) {
      if (this.#destroyed) waiter(networkError('the HTTP pool is closed', 'ERR_HTTP_POOL_CLOSED'));
      else waiter(link);
    }
  }

  destroy(): void {
    this.#destroyed = true;
    clearInterval(this.#sweeper);
    for (const links of this.#open.values()) for (const link of [...links]) link.destroy();
    this.#open.clear();
    this.#idle.clear();
  }
}
