import { createServer } from 'node:net';

/**
 * Asks the kernel for a free TCP port. It is free now, not reserved: a caller
 * that binds it later must be ready to lose the race and try again.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolveListen());
  });
  const address = server.address();
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}
