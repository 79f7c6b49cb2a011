/**
 * The floor of the worker's CPU: the least any Node.js process spends on the same
 * I/O, with none of bucketscan's code. Run as its own process by bench/floor.ts;
 * prints one line of JSON with its own CPU (user + system) per unit of each part:
 * - streaming: each large object read by a plain keep-alive HTTP GET and written
 *   to clamd as INSTREAM frames (one writev per chunk, backpressure by 'drain'),
 *   `parallel` at once: ms per MiB;
 * - requests: GETs of a small object, `parallel` at once: ms per request;
 * - INSTREAM: small buffers over one clamd IDSESSION connection per slot: ms per scan.
 *
 * The emulator takes unsigned requests, so nothing is signed here; signing is
 * part of what the worker adds (and what its profile shows).
 */
import { once } from 'node:events';
import { Agent, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';

interface Input {
  endpoint: string;
  bucket: string;
  largeKeys: string[];
  smallKey: string;
  smallRequests: number;
  parallel: number;
  clamd: { host: string; port: number };
}

const input = JSON.parse(process.argv[2] ?? '{}') as Input;
const { hostname, port } = new URL(input.endpoint);
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
const get = (key: string) =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const path = `/${input.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    request({ agent, hostname, port: Number(port), path }, resolve)
      .on('error', reject)
      .end();
  });

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

async function streamOne(key: string): Promise<number> {
  const socket = connect(input.clamd);
  await once(socket, 'connect');
  socket.write('zINSTREAM\0');
  const answer = reply(socket);
  const body = await get(key);
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    socket.cork();
    socket.write(header(chunk.length));
    const flowing = socket.write(chunk);
    socket.uncork();
    if (!flowing) await once(socket, 'drain');
  }
  socket.write(END);
  const verdict = await answer;
  socket.destroy();
  if (!verdict.includes('OK')) throw new Error(`floor: ${key} is ${verdict}`);
  return bytes;
}

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

  start = process.cpuUsage();
  await inParallel(input.smallRequests, input.parallel, async () => {
    const response = await get(input.smallKey);
    for await (const _ of response as AsyncIterable<Buffer>) {
      // read to the end
    }
  });
  const msPerRequest = cpuMs(start) / input.smallRequests;

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
  process.stdout.write(`${JSON.stringify({ msPerMiB, msPerRequest, msPerInstream })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
