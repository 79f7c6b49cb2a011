import type { Logger } from '../log/logger.ts';
import type { EngineInfo } from './reply.ts';
import { errorMessage } from '../shared/errors.ts';

/**
 * clamd's VERSION changes only when its database reloads, so one answer serves
 * many reports; a failed read yields null rather than failing a quarantine.
 */
export function cachedEngine(read: () => Promise<EngineInfo>, logger: Logger, ttlMs = 60_000): () => Promise<EngineInfo | null> {
  let value: EngineInfo | null = null;
  let readAt = -Infinity;
  let pending: Promise<EngineInfo | null> | undefined;
  return async () => {
    if (performance.now() - readAt < ttlMs) return value;
    pending ??= read()
      .then((info) => {
        value = info;
        readAt = performance.now();
        return info;
      })
      .catch((error: unknown) => {
        logger.warn({ error: errorMessage(error) }, 'could not read the clamd version');
        return value;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}
