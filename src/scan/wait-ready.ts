import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log/logger.ts';
import type { ClamdAddress } from './clamd-client.ts';
import { backoffSeconds } from '../worker/backoff.ts';
import { errorMessage } from '../aws/errors.ts';

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
  for (let attempt = 1; !signal.aborted; attempt += 1) {
    try {
      await ping(signal);
      if (attempt > 1) logger.info({ clamd: describeAddress(address) }, 'clamd is answering');
      return true;
    } catch (error) {
      if (signal.aborted) break;
      const wait = backoffSeconds(attempt, 0.5, 5);
      const fields = { clamd: describeAddress(address), attempt, error: errorMessage(error) };
      if (attempt === 1 || attempt % 10 === 0) logger.warn(fields, 'waiting for clamd to answer PING');
      else logger.debug(fields, 'clamd not ready yet');
      await delay(wait * 1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return false;
}
