/**
 * A TLS-terminating relay in front of the emulator (or moto, or the counting
 * proxy): real AWS endpoints are https, so the worker's CPU per file must
 * include TLS (the handshake of each new connection, and decrypting every byte
 * of every body). The worker connects with https to 127.0.0.1 and trusts the
 * relay's throw-away certificate through NODE_EXTRA_CA_CERTS; the relay decrypts
 * and passes the bytes on over plain TCP. It runs in the driver's process (its
 * CPU is in the "bench" column, apart from the worker's).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { makeCertificate } from '../harness/certificate.ts';
import { relay } from '../harness/relay.ts';
import { createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';

export { makeCertificate };

export interface TlsProxy {
  /** e.g. https://127.0.0.1:41234 */
  endpoint: string;
  /** The certificate (PEM) a client must trust: NODE_EXTRA_CA_CERTS for the worker. */
  caFile: string;
  stop(): Promise<void>;
}

/** Terminates TLS on a free loopback port and relays each connection to `target` (http://host:port). */
export async function startTlsProxy(target: string, dir: string): Promise<TlsProxy> {
  const { hostname, port } = new URL(target);
  const files = makeCertificate(dir);
  const sockets = new Set<Socket>();
  const server = createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (client) => {
    relay(client, { host: hostname, port: Number(port) }, sockets);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile: files.cert,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
