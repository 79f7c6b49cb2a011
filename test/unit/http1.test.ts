/**
 * The worker's HTTP/1.1 client (src/aws/http1.ts) against real local servers:
 * node:http's for ordinary answers, plain sockets where the framing itself is
 * the point (a body cut short, bytes dribbled one at a time, a kept socket the
 * server has closed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { HttpPool, type HttpPoolOptions, type HttpResponse, type HttpTarget } from '../../src/aws/http1.ts';
import { makeCertificate } from '../../harness/certificate.ts';
import { waitFor } from '../support/wait.ts';

const OPTIONS = { maxSockets: 4, connectTimeoutMs: 5_000, socketTimeoutMs: 10_000 };

async function listen(server: Server | import('node:tls').Server): Promise<HttpTarget> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { protocol: 'http:', hostname: '127.0.0.1', port: (server.address() as AddressInfo).port };
}

function request(target: HttpTarget, path = '/', extra: { method?: string; body?: Buffer; signal?: AbortSignal } = {}) {
  return {
    target,
    method: extra.method ?? 'GET',
    path,
    headers: { host: `${target.hostname}:${target.port}` },
    body: extra.body,
    signal: extra.signal,
  };
}

/** An HTTP server that counts its connections. */
async function httpServer(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  let connections = 0;
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, handler);
  server.on('connection', () => {
    connections += 1;
  });
  const target = await listen(server);
  return { target, connections: () => connections, close: () => server.close() };
}

/** A plain TCP server that answers each request (read up to its blank line) with `answer`. */
async function rawServer(answer: (socket: Socket, index: number) => void | Promise<void>) {
  let index = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        void answer(socket, index++);
      }
    });
    socket.on('error', () => undefined);
  });
  const target = await listen(server);
  return {
    target,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Runs `body` with a pool made of `options`, then closes the pool and `server`, whatever happened. */
async function withPool(
  server: { close(): void },
  body: (pool: HttpPool) => Promise<void>,
  options: HttpPoolOptions = OPTIONS,
): Promise<void> {
  const pool = new HttpPool(options);
  try {
    await body(pool);
  } finally {
    pool.destroy();
    server.close();
  }
}

async function bodyOf(response: HttpResponse): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of response) pieces.push(piece);
  return Buffer.concat(pieces);
}

test('answers framed by Content-Length share one kept socket, and a request body goes out whole', async () => {
  const server = await httpServer((request, response) => {
    const pieces: Buffer[] = [];
    request.on('data', (piece: Buffer) => pieces.push(piece));
    request.on('end', () => response.end(`${request.method} ${request.url} ${Buffer.concat(pieces).toString()}`));
  });
  await withPool(server, async (pool) => {
    const first = await pool.request(request(server.target, '/a?x=1', { method: 'PUT', body: Buffer.from('hello') }));
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['content-length'], String('PUT /a?x=1 hello'.length));
    assert.equal(await first.text(1024), 'PUT /a?x=1 hello');
    const second = await pool.request(request(server.target, '/b'));
    assert.equal(await second.text(1024), 'GET /b ');
    assert.equal(server.connections(), 1);
  });
});

test('a chunked answer dribbled a byte at a time, after a 100 Continue, reads whole; the socket is kept', async () => {
  const server = await rawServer(async (socket) => {
    const text = '5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: yes\r\n\r\n';
    socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Twice: a\r\nx-twice: b\r\n\r\n');
    for (const byte of text) await new Promise((resolve) => socket.write(byte, resolve));
  });
  await withPool(server, async (pool) => {
    for (let round = 0; round < 2; round += 1) {
      const response = await pool.request(request(server.target));
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['x-twice'], 'a, b');
      assert.equal(await response.text(1024), 'hello, world');
    }
  });
});

test('a malformed head fails its request with the fault named: not HTTP/1, a header line without a name', async () => {
  const heads = [
    'SSH-2.0-OpenSSH\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nno colon here\r\n\r\n',
    'HTTP/1.1 200 OK\r\n: nameless\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nlast line: fine\r\nbroken\r\n\r\n',
  ];
  const server = await rawServer((socket, index) => {
    socket.write(heads[index]!);
  });
  await withPool(server, async (pool) => {
    await assert.rejects(pool.request(request(server.target)), {
      code: 'HPE_INVALID_CONSTANT',
      message: /not an HTTP\/1 response: "SSH-2\.0-OpenSSH"/,
    });
    for (const line of ['no colon here', ': nameless', 'broken']) {
      await assert.rejects(pool.request(request(server.target)), {
        code: 'HPE_INVALID_HEADER_TOKEN',
        message: new RegExp(`bad response header line "${line}"`),
      });
    }
  });
});

test('a body cut short of its Content-Length fails its reader; it never ends as if whole', async () => {
  const server = await rawServer((socket) => {
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly forty bytes of the hundred promised');
  });
  await withPool(server, async (pool) => {
    const response = await pool.request(request(server.target));
    await assert.rejects(bodyOf(response), { code: 'ECONNRESET' });
  });
});

test('an answer with no length ends with its connection, which is not kept', async () => {
  const server = await rawServer((socket) => {
    socket.end('HTTP/1.1 200 OK\r\n\r\nread until the end');
  });
  await withPool(server, async (pool) => {
    const response = await pool.request(request(server.target));
    assert.equal((await bodyOf(response)).toString(), 'read until the end');
    const again = await pool.request(request(server.target));
    assert.equal((await bodyOf(again)).toString(), 'read until the end');
  });
});

test('a kept socket the server hung up on is not used again: the next request goes through on a new one', async () => {
  const server = await rawServer((socket, index) => {
    // The first answer says nothing of closing, then the server hangs up anyway.
    if (index === 0) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
  });
  await withPool(server, async (pool) => {
    const first = await pool.request(request(server.target));
    assert.equal(await first.text(100), 'first');
    const second = await pool.request(request(server.target));
    assert.equal(await second.text(100), 'second');
  });
});

test('an abort mid-body fails the read with an AbortError; a silent server times out with a TimeoutError', async () => {
  const server = await rawServer((socket, index) => {
    if (index === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf ');
    // The second request is never answered.
  });
  await withPool(
    server,
    async (pool) => {
      const controller = new AbortController();
      const response = await pool.request(request(server.target, '/', { signal: controller.signal }));
      const iterator = response[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.toString(), 'half ');
      controller.abort();
      await assert.rejects(iterator.next(), { name: 'AbortError' });
      await assert.rejects(pool.request(request(server.target)), { name: 'TimeoutError' });
    },
    { ...OPTIONS, socketTimeoutMs: 200 },
  );
});

test('a header value with a line break is refused before anything is sent', async () => {
  const pool = new HttpPool(OPTIONS);
  const target: HttpTarget = { protocol: 'http:', hostname: '127.0.0.1', port: 9 };
  await assert.rejects(pool.request({ ...request(target), headers: { host: 'x', 'x-evil': 'a\r\nx-injected: 1' } }), TypeError);
  pool.destroy();
});

test('with one socket allowed, requests at once wait their turn on it', async () => {
  const server = await httpServer((request, response) => response.end(request.url));
  await withPool(
    server,
    async (pool) => {
      const answers = await Promise.all(
        ['/1', '/2', '/3'].map(async (path) => (await pool.request(request(server.target, path))).text(100)),
      );
      assert.deepEqual(answers, ['/1', '/2', '/3']);
      assert.equal(server.connections(), 1);
    },
    { ...OPTIONS, maxSockets: 1 },
  );
});

test('a lent body: views held unreleased are never overwritten, and released buffers are read into again', async () => {
  const payload = randomBytes(8 * 1024 * 1024);
  const server = await httpServer((_request, response) => response.end(payload));
  await withPool(server, async (pool) => {
    // Held: every view kept until the end, none released; the bytes must still be the payload's.
    const held: Buffer[] = [];
    const first = await pool.request(request(server.target));
    for await (const view of first.lend()) held.push(view);
    assert.equal(createHash('sha256').update(Buffer.concat(held)).digest('hex'), createHash('sha256').update(payload).digest('hex'));

    // Released as soon as hashed: a handful of buffers carry the whole body.
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    const second = await pool.request(request(server.target));
    for await (const view of second.lend()) {
      hash.update(view);
      buffers.add(view.buffer);
      second.release(view);
    }
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
    assert.ok(buffers.size <= 4, `${buffers.size} read buffers for 8 MiB`);
  });
});

test('over TLS, a lent body arrives whole: records read side by side in one buffer come out as one view', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-http1-'));
  const files = makeCertificate(dir);
  const payload = randomBytes(4 * 1024 * 1024);
  const server = createTlsServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (socket) => {
    socket.once('data', () => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`) && socket.write(payload));
  });
  const target: HttpTarget = { ...(await listen(server)), protocol: 'https:' };
  const pool = new HttpPool({ ...OPTIONS, ca: readFileSync(files.cert) });
  try {
    const response = await pool.request(request(target));
    const hash = createHash('sha256');
    let largest = 0;
    for await (const view of response.lend()) {
      hash.update(view);
      largest = Math.max(largest, view.byteLength);
      // As the clamd client does, a turn of the event loop before the write: what arrives meanwhile waits, merged.
      await nextTurn();
      response.release(view);
    }
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
    // TLS records are at most 16 KiB: a larger view is several of them, merged.
    assert.ok(largest > 16 * 1024, `largest view ${largest} bytes`);
  } finally {
    pool.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('over TLS, a small body sent as several records reaches a waiting reader as one piece, at its end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-http1-'));
  const files = makeCertificate(dir);
  // Three writes, three TLS records: each a read of its own on the client's side.
  const parts = [randomBytes(13 * 1024), randomBytes(13 * 1024), randomBytes(13 * 1024)];
  const payload = Buffer.concat(parts);
  const server = createTlsServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (socket) => {
    socket.once('data', () => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`);
      for (const part of parts) socket.write(part);
    });
  });
  const target: HttpTarget = { ...(await listen(server)), protocol: 'https:' };
  const pool = new HttpPool({ ...OPTIONS, ca: readFileSync(files.cert) });
  try {
    const response = await pool.request(request(target));
    const views: number[] = [];
    const hash = createHash('sha256');
    // The reader waits for the body from the start, as the clamd client does once the headers are in.
    for await (const view of response.lend()) {
      views.push(view.byteLength);
      hash.update(view);
      response.release(view);
    }
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
    // One wake-up of the reader, one frame for clamd: not one per record.
    assert.deepEqual(views, [payload.length]);
  } finally {
    pool.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket left unused longer than its idle time is closed, and the next request opens another', async () => {
  let closed = 0;
  const server = await httpServer((request, response) => {
    request.socket.once('close', () => {
      closed += 1;
    });
    response.end('ok');
  });
  await withPool(
    server,
    async (pool) => {
      assert.equal(await (await pool.request(request(server.target))).text(10), 'ok');
      await waitFor('the idle socket closed', () => (closed === 1 ? true : undefined), 10_000);
      assert.equal(await (await pool.request(request(server.target))).text(10), 'ok');
      assert.equal(server.connections(), 2);
    },
    { ...OPTIONS, idleMs: 1 },
  );
});

test('over TLS, a new socket to the same endpoint resumes the last session instead of a full handshake', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketscan-http1-'));
  const files = makeCertificate(dir);
  const resumed: boolean[] = [];
  const server = createTlsServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (socket) => {
    socket.once('data', () => {
      resumed.push(socket.isSessionReused());
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  const target: HttpTarget = { ...(await listen(server)), protocol: 'https:' };
  const pool = new HttpPool({ ...OPTIONS, ca: readFileSync(files.cert) });
  try {
    for (let round = 0; round < 2; round += 1) assert.equal(await (await pool.request(request(target))).text(10), 'ok');
    assert.deepEqual(resumed, [false, true]);
  } finally {
    pool.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
