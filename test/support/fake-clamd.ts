import { createServer, type Socket } from 'node:net';
import type { ClamdAddress } from '../../src/scan/clamd-client.ts';

/**
 * 'lie' reads the whole INSTREAM and calls it clean: a canary for checkers, which
 * must notice when infected files get through.
 */
export type FakeBehaviour = 'error-reply' | 'garbage' | 'close' | 'hang' | 'lie';

/**
 * A clamd that answers PING and VERSION like a healthy one, then fails every
 * scan in a chosen way: the failures a real clamd produces only rarely (a
 * database reload, a crash, a wedged thread) on demand.
 */
export async function startFakeClamd(
  behaviour: FakeBehaviour,
  port = 0,
): Promise<{ address: ClamdAddress; port: number; scans: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let scans = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let command = Buffer.alloc(0);
    let scanning = false;
    let frames = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (scanning) {
        if (behaviour === 'lie') readFrames(chunk);
        return;
      }
      command = Buffer.concat([command, chunk]);
      const end = command.indexOf(0);
      if (end < 0) return;
      const name = command.subarray(0, end).toString('latin1');
      if (name === 'zPING') socket.end('PONG\0');
      else if (name === 'zVERSION') socket.end('ClamAV 1.4.6/27000/Thu Nov 20 09:00:00 2026\0');
      else if (name === 'zINSTREAM') {
        scanning = true;
        scans += 1;
        if (behaviour === 'error-reply') socket.end("Can't allocate memory ERROR\0");
        else if (behaviour === 'garbage') socket.end(Buffer.from([0xff, 0xfe, 0x41, 0x0a, 0xc3, 0x28, 0x00]));
        else if (behaviour === 'close') socket.destroy();
        else if (behaviour === 'lie') readFrames(command.subarray(end + 1));
        // 'hang': read everything, answer nothing.
      } else socket.end('UNKNOWN COMMAND\0');
    });
    // INSTREAM frames: a 4-byte big-endian length, then that many bytes; length 0 ends the stream.
    function readFrames(chunk: Buffer) {
      frames = Buffer.concat([frames, chunk]);
      while (frames.length >= 4) {
        const length = frames.readUInt32BE(0);
        if (length === 0) return void socket.end('stream: OK\0');
        if (frames.length < 4 + length) return;
        frames = frames.subarray(4 + length);
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as { port: number }).port;
  return {
    address: { kind: 'tcp', host: '127.0.0.1', port: bound },
    port: bound,
    scans: () => scans,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
