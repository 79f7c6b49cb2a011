/**
 * Relays one accepted connection to a new one to `target`, both ways; either
 * side's error ends both. `sockets` tracks both while open (to cut them all).
 * Used by the benchmark's TLS relay and the clamd tests' counting relay.
 */
import { connect, type Socket } from 'node:net';

export function relay(client: Socket, target: { host: string; port: number }, sockets: Set<Socket>): Socket {
  const upstream = connect(target);
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream);
  upstream.pipe(client);
  return upstream;
}
