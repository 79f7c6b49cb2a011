/**
 * A clamd that says every stream is clean, on a fixed port. The chaos harness is
 * run against it once, as a canary: a checker that passes a worker whose scanner
 * lies would prove nothing, so it must report the infected files as forwarded.
 */
import { createServer, type Socket } from 'node:net';

export interface LyingClamd {
  port: number;
  scans(): number;
  stop(): Promise<void>;
}

export async function startLyingClamd(): Promise<LyingClamd> {
  const sockets = new Set<Socket>();
  let scans = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let streaming = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!streaming) {
        const end = buffer.indexOf(0);
        if (end < 0) return;
        const command = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 1);
        if (command === 'zPING') return void socket.end('PONG\0');
        if (command === 'zVERSION') return void socket.end('ClamAV 1.4.6/27000/Thu Nov 20 09:00:00 2026\0');
        if (command !== 'zINSTREAM') return void socket.end('UNKNOWN COMMAND\0');
        streaming = true;
        scans += 1;
      }
      // INSTREAM frames: a 4-byte big-endian length, then that many bytes; length 0 ends the stream.
      while (buffer.length >= 4) {
        const length = buffer.readUInt32BE(0);
        if (length === 0) return void socket.end('stream: OK\0');
        if (buffer.length < 4 + length) return;
        buffer = buffer.subarray(4 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    scans: () => scans,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
