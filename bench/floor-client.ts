/**
 * The floor of the worker's CPU: the least any Node.js process spends on the same
 * I/O, with none of bucketscan's code. Run as its own process by bench/floor.ts;
 * prints one line of JSON with its own CPU (user + system) per unit of each part:
 * - streaming: each large object read by a plain keep-alive HTTP GET and written
 *   to clamd as INSTREAM frames (one writev per chunk, backpressure by 'drain'),
 *   `parallel` at once: ms per MiB;
 * - requests: GETs of a small object, `parallel` at once: ms per request; and
 *   again through a proxy that holds every answer 20 ms (`latency`), as many at
 *   once as the worker's slots, so that every answer wakes the process on its
 *   own, as moto's do in the small-file figure: ms per request;
 * - INSTREAM: small buffers over one clamd IDSESSION connection per slot: ms per scan;
 * - streaming without an HTTP client: the same objects and frames, but each GET
 *   written by hand on a plain socket that reads into one reused buffer (the
 *   `onread` option) and frames every read straight to clamd, pausing the read
 *   until clamd's socket drains: ms per MiB. No Node HTTP parser, no stream
 *   objects, no new buffer per read: what a leaner transport could reach;
 * - the same through TLS (`rawTls`, a TLS-terminating relay in front of the
 *   emulator): ms per MiB, and beside it what AES-GCM decryption alone costs
 *   per MiB in this process (node:crypto, the cipher the relay negotiates).
 *
 * The emulator takes unsigned requests, so nothing is signed here; signing is
 * part of what the worker adds (and what its profile shows).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, type IncomingMessage, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

interface Input {
  endpoint: string;
  bucket: string;
  largeKeys: string[];
  smallKey: string;
  smallRequests: number;
  parallel: number;
  clamd: { host: string; port: number };
  /** The emulator behind a proxy that delays every answer, and how many requests go at once through it. */
  latency: { endpoint: string; parallel: number; requests: number };
  /** The same proxy's answers through TLS (node:https), trusting this certificate. */
  latencyTls: { endpoint: string; ca: string };
  /** The emulator behind a TLS-terminating relay with no delay, for the raw streaming through TLS. */
  rawTls: { endpoint: string; ca: string };
}

const input = JSON.parse(process.argv[2] ?? '{}') as Input;
const { hostname, port } = new URL(input.endpoint);
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
const latencyUrl = new URL(input.latency.endpoint);
const tlsUrl = new URL(input.latencyTls.endpoint);
const tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ca: readFileSync(input.latencyTls.ca) });
const getTls = (key: string) =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const path = `/${input.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    httpsRequest({ agent: tlsAgent, hostname: tlsUrl.hostname, port: Number(tlsUrl.port), path }, resolve)
      .on('error', reject)
      .end();
  });
const get = (key: string, through: URL = new URL(input.endpoint)) =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const path = `/${input.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    request({ agent, hostname: through.hostname, port: Number(through.port), path }, resolve)
      .on('error', reject)
      .end();
  });

const systemMs = (since: NodeJS.CpuUsage) => process.cpuUsage(since).system / 1000;
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

async function inParallel(count: number, parallel: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      for (let index = next++; index < count; index = next++) await task(index);
    }),
  );
}

/** One reply (up to its NUL) from a clamd socket. */
function reply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer) => {
      text += data.toString('latin1');
      if (text.includes('\0')) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

const END = Buffer.alloc(4);
function header(length: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(length, 0);
  return buffer;
}

/** One INSTREAM of `key`: `feed` frames the body to clamd and resolves with its bytes; the verdict must be clean. */
async function instream(key: string, feed: (clamd: Socket) => Promise<number>): Promise<number> {
  const clamd = connect(input.clamd);
  await once(clamd, 'connect');
  clamd.write('zINSTREAM\0');
  const answer = reply(clamd);
  const bytes = await feed(clamd);
  clamd.write(END);
  const verdict = await answer;
  clamd.destroy();
  if (!verdict.includes('OK')) throw new Error(`floor: ${key} is ${verdict}`);
  return bytes;
}

/** One object by a keep-alive GET, each chunk framed to clamd (one writev, backpressure by 'drain'). */
const streamOne = (key: string) =>
  instream(key, async (clamd) => {
    let bytes = 0;
    for await (const chunk of (await get(key)) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      clamd.cork();
      clamd.write(header(chunk.length));
      const flowing = clamd.write(chunk);
      clamd.uncork();
      if (!flowing) await once(clamd, 'drain');
    }
    return bytes;
  });

/**
 * One object by a GET written on a plain socket (the emulator takes unsigned
 * requests) whose reads land in `buffer`, each framed to clamd at once. The
 * buffer is read into again only once clamd's socket has taken the frame, so a
 * write that had to wait never sees its bytes overwritten.
 */
function streamOneRaw(key: string, buffer: Buffer, tls?: { url: URL; ca: Buffer; cipher?: (name: string) => void }): Promise<number> {
  const path = `/${input.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const host = tls ? tls.url.hostname : hostname;
  const to = tls ? Number(tls.url.port) : Number(port);
  return instream(
    key,
    (clamd) =>
      new Promise<number>((resolve, reject) => {
        let remaining = -1;
        let total = 0;
        const onread = {
          buffer,
          callback(length: number, into: Uint8Array): boolean {
            let start = 0;
            if (remaining < 0) {
              // The status line and headers arrive whole in the first read of a fresh connection.
              const head = Buffer.from(into.buffer, into.byteOffset, length).toString('latin1');
              const end = head.indexOf('\r\n\r\n');
              const size = /\r\ncontent-length: *(\d+)/i.exec(head);
              if (end === -1 || !size || !head.startsWith('HTTP/1.1 200')) {
                reject(new Error(`floor: unexpected answer to GET ${key}: ${head.slice(0, 80)}`));
                return false;
              }
              remaining = Number(size[1]);
              start = end + 4;
            }
            const body = into.subarray(start, length);
            remaining -= body.length;
            total += body.length;
            clamd.cork();
            clamd.write(header(body.length));
            // Resumes the read once the frame has left, if it had to wait: 'drain' comes only
            // past the high-water mark, and a small frame may wait below it.
            clamd.write(body, () => source.resume());
            clamd.uncork();
            if (remaining <= 0) {
              source.destroy();
              resolve(total);
              return false;
            }
            // Still queued, the frame points into `buffer`: no read into it until it has left.
            return clamd.writableLength === 0;
          },
        };
        const request = `GET ${path} HTTP/1.1\r\nHost: ${host}:${to}\r\n\r\n`;
        // Node's TLS sockets take onread as plain ones do (src/aws/http1.ts relies on it too); its types do not say so.
        const source: Socket = tls
          ? tlsConnect({ host, port: to, ca: tls.ca, onread } as ConnectionOptions)
          : connect({ host, port: to, onread });
        source.once(tls ? 'secureConnect' : 'connect', () => {
          tls?.cipher?.((source as TLSSocket).getCipher().standardName);
          source.write(request);
        });
        source.once('error', reject);
      }),
  );
}

/** The TLS 1.3 suites' bulk ciphers, by the names node:crypto knows them. */
const BULK_CIPHERS: Record<string, string> = {
  TLS_AES_128_GCM_SHA256: 'aes-128-gcm',
  TLS_AES_256_GCM_SHA384: 'aes-256-gcm',
  TLS_CHACHA20_POLY1305_SHA256: 'chacha20-poly1305',
};

/** CPU per MiB of the negotiated bulk cipher alone: 64 MiB decrypted in TLS's 16 KiB records, one cipher object. */
function decryptionMsPerMiB(suite: string): number {
  const name = BULK_CIPHERS[suite];
  if (!name) throw new Error(`floor: no bulk cipher known for the TLS suite ${JSON.stringify(suite)}`);
  const record = randomBytes(16 * 1024);
  const decipher = createDecipheriv(name as 'aes-256-gcm', randomBytes(name === 'aes-128-gcm' ? 16 : 32), randomBytes(12), {
    authTagLength: 16,
  });
  for (let i = 0; i < 64; i++) decipher.update(record);
  const start = process.cpuUsage();
  const records = 64 * 64;
  for (let i = 0; i < records; i++) decipher.update(record);
  return cpuMs(start) / ((records * record.length) / (1024 * 1024));
}

const readAll = async (response: IncomingMessage) => {
  for await (const _ of response as AsyncIterable<Buffer>) {
    // read to the end
  }
};

async function main(): Promise<void> {
  // Warm up: the first of anything pays for compilation.
  await streamOne(input.largeKeys[0]!);
  for (let i = 0; i < 50; i++) (await get(input.smallKey)).resume();

  let start = process.cpuUsage();
  let bytes = 0;
  await inParallel(input.largeKeys.length, input.parallel, async (index) => {
    bytes += await streamOne(input.largeKeys[index]!);
  });
  const msPerMiB = cpuMs(start) / (bytes / (1024 * 1024));

  // One read buffer per stream at once, taken for a stream and given back after it.
  const buffers = Array.from({ length: input.parallel }, () => Buffer.allocUnsafe(64 * 1024));
  await streamOneRaw(input.largeKeys[0]!, buffers[0]!);
  start = process.cpuUsage();
  bytes = 0;
  await inParallel(input.largeKeys.length, input.parallel, async (index) => {
    const buffer = buffers.pop()!;
    bytes += await streamOneRaw(input.largeKeys[index]!, buffer);
    buffers.push(buffer);
  });
  const rawMsPerMiB = cpuMs(start) / (bytes / (1024 * 1024));
  const rawSystemMsPerMiB = systemMs(start) / (bytes / (1024 * 1024));

  const rawTls = { url: new URL(input.rawTls.endpoint), ca: readFileSync(input.rawTls.ca) };
  let cipher = '';
  await streamOneRaw(input.largeKeys[0]!, buffers[0]!, { ...rawTls, cipher: (name) => (cipher = name) });
  start = process.cpuUsage();
  bytes = 0;
  await inParallel(input.largeKeys.length, input.parallel, async (index) => {
    const buffer = buffers.pop()!;
    bytes += await streamOneRaw(input.largeKeys[index]!, buffer, rawTls);
    buffers.push(buffer);
  });
  const rawTlsMsPerMiB = cpuMs(start) / (bytes / (1024 * 1024));
  const decryptMsPerMiB = decryptionMsPerMiB(cipher);

  start = process.cpuUsage();
  await inParallel(input.smallRequests, input.parallel, async () => readAll(await get(input.smallKey)));
  const msPerRequest = cpuMs(start) / input.smallRequests;

  for (let i = 0; i < input.latency.parallel; i++) await readAll(await get(input.smallKey, latencyUrl));
  start = process.cpuUsage();
  await inParallel(input.latency.requests, input.latency.parallel, async () => readAll(await get(input.smallKey, latencyUrl)));
  const msPerRequestAtLatency = cpuMs(start) / input.latency.requests;

  for (let i = 0; i < input.latency.parallel; i++) await readAll(await getTls(input.smallKey));
  start = process.cpuUsage();
  await inParallel(input.latency.requests, input.latency.parallel, async () => readAll(await getTls(input.smallKey)));
  const msPerRequestAtLatencyTls = cpuMs(start) / input.latency.requests;

  const small = Buffer.alloc(20 * 1024, 7);
  const sessions: Socket[] = [];
  for (let i = 0; i < input.parallel; i++) {
    const socket = connect(input.clamd);
    await once(socket, 'connect');
    socket.write('zIDSESSION\0');
    sessions.push(socket);
  }
  start = process.cpuUsage();
  await Promise.all(
    sessions.map(async (socket) => {
      for (let i = 0; i < Math.ceil(input.smallRequests / input.parallel); i++) {
        const answer = reply(socket);
        socket.cork();
        socket.write('zINSTREAM\0');
        socket.write(header(small.length));
        socket.write(small);
        socket.write(END);
        socket.uncork();
        if (!(await answer).includes('OK')) throw new Error('floor: a small INSTREAM was not clean');
      }
    }),
  );
  const msPerInstream = cpuMs(start) / (Math.ceil(input.smallRequests / input.parallel) * input.parallel);
  for (const socket of sessions) socket.destroy();
  agent.destroy();
  tlsAgent.destroy();
  process.stdout.write(
    `${JSON.stringify({ msPerMiB, rawMsPerMiB, rawSystemMsPerMiB, rawTlsMsPerMiB, tlsCipher: cipher, decryptMsPerMiB, msPerRequest, msPerRequestAtLatency, msPerRequestAtLatencyTls, msPerInstream })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
