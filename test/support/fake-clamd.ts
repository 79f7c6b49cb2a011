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
 * database reload, a crash, a wedged thread) on demand. It speaks IDSESSION as
 * clamd does (numbered replies; 'lie' keeps the session open for the next scan).
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
    // clamd's IDSESSION: commands on one connection, each reply prefixed with its number, the connection kept.
    let session = false;
    let commands = 0;
    let pending = Buffer.alloc(0);
    let scanning = false;
    const reply = (text: string | Buffer) => {
      const numbered = session && typeof text === 'string' ? `${commands}: ${text}` : text;
      if (session && behaviour === 'lie') socket.write(numbered);
      else socket.end(numbered);
    };
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (scanning) {
          if (behaviour !== 'lie') return void (pending = Buffer.alloc(0));
          // INSTREAM frames: a 4-byte big-endian length, then that many bytes; length 0 ends the stream.
          if (pending.length < 4) return;
          const length = pending.readUInt32BE(0);
          if (pending.length < 4 + length) return;
          pending = pending.subarray(4 + length);
          if (length === 0) {
            scanning = false;
            reply('stream: OK\0');
          }
          continue;
        }
        const end = pending.indexOf(0);
        if (end < 0) return;
        const name = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 1);
        if (name === 'zIDSESSION') {
          session = true;
          continue;
        }
        if (name === 'zEND') return void socket.end();
        commands += 1;
        if (name === 'zPING') reply('PONG\0');
        else if (name === 'zVERSION') reply('ClamAV 1.4.6/27000/Thu Nov 20 09:00:00 2026\0');
        else if (name === 'zINSTREAM') {
          scanning = true;
          scans += 1;
          if (behaviour === 'error-reply') reply("Can't allocate memory ERROR\0");
          else if (behaviour === 'garbage') reply(Buffer.from([0xff, 0xfe, 0x41, 0x0a, 0xc3, 0x28, 0x00]));
          else if (behaviour === 'close') socket.destroy();
          // 'lie' reads the frames above; 'hang': reads everything, answers nothing.
        } else reply('UNKNOWN COMMAND\0');
        if (socket.destroyed || socket.writableEnded) return;
      }
    });
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
