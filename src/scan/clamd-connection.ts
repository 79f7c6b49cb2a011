/**
 * One socket to clamd and its one reply (src/scan/clamd-client.ts speaks the
 * protocol over it). The socket is opened here, or is a session's kept from an
 * earlier command (IDSESSION, see ClamdClient's `sessions`): then a complete
 * reply does not close it, and `detach` hands it back for the next command.
 *
 * Whatever happens first (a complete reply, an error, a close, a timeout, an
 * abort) settles the connection once: `settled` resolves with that outcome, the
 * socket is destroyed, and so its listeners and timer go with it. Every wait
 * (the connect, a drain, a read of the source) races that one promise, so nothing
 * waits on a connection that is already over.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describeBytes } from './reply.ts';

export type ClamdAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'socket'; path: string };

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

/** A real reply is a few dozen bytes; the cap only stops a misbehaving peer. */
const MAX_REPLY_BYTES = 8 * 1024;

/** The reason the waits' signal is aborted with. */
const SETTLED = 'settled';

export type Outcome = { ok: true; reply: Buffer } | { ok: false; error: ClamdError };

export class Connection {
  readonly #socket: Socket;
  readonly #signal: AbortSignal | undefined;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #replyChunks: Buffer[] = [];
  #replyBytes = 0;
  #isConnected = false;
  #outcome: Outcome | undefined;
  #resolveSettled!: (outcome: Outcome) => void;
  /** Resolves once, with the outcome, when the connection settles; never rejects. */
  readonly settlement: Promise<Outcome> = new Promise((resolve) => {
    this.#resolveSettled = resolve;
  });
  /**
   * Aborted when the connection settles: every wait is given this signal, so it
   * ends with the connection and leaves nothing behind (a race against a promise
   * that stays pending for the whole scan would keep every value raced against it).
   */
  readonly #over = new AbortController();

  /** Kept open after a complete reply (a session's socket), until `detach` takes it. */
  readonly #keep: boolean;
  #kept: Socket | undefined;
  #trailing = false;

  constructor(
    address: ClamdAddress | Socket,
    connectTimeoutMs: number,
    idleTimeoutMs: number,
    signal: AbortSignal | undefined,
    options: { keep?: boolean } = {},
  ) {
    this.#signal = signal;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#keep = options.keep === true;
    if ('kind' in address) {
      this.#socket = address.kind === 'tcp' ? connect({ host: address.host, port: address.port }) : connect({ path: address.path });
      // Until 'connect' the socket timeout is the connect deadline; after it, the idle
      // limit. Node resets it on every read and write, which is exactly "no bytes in
      // either direction", and clears it when the socket is destroyed.
      this.#socket.setTimeout(connectTimeoutMs);
      this.#socket.once('connect', this.#onConnect);
    } else {
      this.#socket = address;
      this.#isConnected = true;
      this.#socket.setTimeout(idleTimeoutMs);
    }
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

  /** Resolves once connected; rejects with the failure when the connection settles first. */
  async connected(): Promise<void> {
    if (!this.#isConnected && !this.#outcome) await once(this.#socket, 'connect', { signal: this.#over.signal }).catch(() => undefined);
    if (this.#outcome && !this.#outcome.ok) throw this.#outcome.error;
  }

  /**
   * Writes the buffers as one unit (corked: one writev, nothing copied) and waits
   * out backpressure. No-op once settled. `written` is called once the socket has
   * written them all out, and not at all if it fails first.
   */
  async write(buffers: readonly Uint8Array[], written?: () => void): Promise<void> {
    if (this.#outcome) return;
    this.#socket.cork();
    let flowing = true;
    const last = buffers.length - 1;
    for (let index = 0; index <= last; index += 1) {
      flowing =
        index === last && written
          ? this.#socket.write(buffers[index]!, (error) => {
              if (!error) written();
            })
          : this.#socket.write(buffers[index]!);
    }
    this.#socket.uncork();
    if (!flowing && !this.#outcome) await once(this.#socket, 'drain', { signal: this.#over.signal }).catch(() => undefined);
  }

  /** `promise`'s value, or undefined if the connection settles first. */
  async unlessSettled<T>(promise: Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#outcome) return undefined;
    const { signal } = this.#over;
    let stop!: () => void;
    const stopped = new Promise<undefined>((resolve) => {
      stop = () => resolve(undefined);
    });
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await Promise.race([promise.then((value) => ({ value })), stopped]);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** The reply bytes (terminator excluded) once it is complete; rejects otherwise. */
  async reply(): Promise<Buffer> {
    const outcome = this.#outcome ?? (await this.settlement);
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

  /**
   * The socket, open, after a complete reply on a connection made with `keep`;
   * undefined otherwise (and after the first call). Its listeners are gone: the
   * caller owns it.
   */
  detach(): Socket | undefined {
    const socket = this.#kept;
    this.#kept = undefined;
    return socket;
  }

  #settle(outcome: Outcome): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (outcome.ok && this.#keep && !this.#trailing && !this.#socket.destroyed && this.#socket.readyState === 'open') {
      const socket = this.#socket;
      socket.setTimeout(0);
      socket.off('connect', this.#onConnect);
      socket.off('data', this.#onData);
      socket.off('end', this.#onEnd);
      socket.off('timeout', this.#onTimeout);
      socket.off('error', this.#onError);
      socket.off('close', this.#onClose);
      this.#kept = socket;
    } else {
      // The socket keeps its 'error' listener so nothing it emits while being torn
      // down can surface as an unhandled error.
      this.#socket.destroy();
    }
    // A plain reason: abort() with none would build a DOMException (and its stack) per scan.
    this.#over.abort(SETTLED);
    this.#resolveSettled(outcome);
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
    if (this.#outcome) return;
    this.#isConnected = true;
    this.#socket.setTimeout(this.#idleTimeoutMs);
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
    // Anything after the reply was not asked for: such a session is not used again.
    if (end !== -1 && end < data.length - 1) this.#trailing = true;
    if (end !== -1) this.#settle({ ok: true, reply: this.#replyChunks.length === 1 ? part : Buffer.concat(this.#replyChunks) });
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
      // with the socket. The client then asks clamd whether that was it (see
      // ClamdClient.exceedsStreamLimit); an error that gets this far means clamd went away.
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
