import type { Logger } from '../log/logger.ts';
import type { ClamdAddress } from './clamd-client.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffSeconds, retryUntil } from '../shared/time.ts';

export function describeAddress(address: ClamdAddress): string {
  return address.kind === 'tcp' ? `${address.host}:${address.port}` : `unix:${address.path}`;
}

/**
 * Holds the worker back until clamd answers PING, so a clamd that is still
 * loading its database delays the first scans instead of failing them.
 * Resolves false when the signal aborts first.
 */
export async function waitForClamd(
  ping: (signal: AbortSignal) => Promise<void>,
  address: ClamdAddress,
  logger: Logger,
  signal: AbortSignal,
): Promise<boolean> {
  let failed = false;
  const answered = await retryUntil(
    async (attemptSignal) => {
      await ping(attemptSignal);
      return true;
    },
    {
      signal,
      delayMs: (attempt) => backoffSeconds(attempt, 0.5, 5) * 1000,
      onRetry: (error, attempt) => {
        failed = true;
        const fields = { clamd: describeAddress(address), attempt, error: errorMessage(error) };
        if (attempt === 1 || attempt % 10 === 0) logger.warn(fields, 'waiting for clamd to answer PING');
        else logger.debug(fields, 'clamd not ready yet');
      },
    },
  );
  if (answered && failed) logger.info({ clamd: describeAddress(address) }, 'clamd is answering');
  return answered === true;
}
