/** The part of a logger the shutdown reports to (a pino Logger is one). */
export interface ShutdownLog {
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/**
 * Turns SIGTERM/SIGINT into an abort. Repeats change nothing: Ctrl-C under
 * `npm start` reaches the process twice (from the terminal and from npm), and a
 * shutdown is bounded by its own timeout anyway.
 */
export function shutdownSignal(logger?: ShutdownLog): AbortSignal {
  const controller = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) {
        logger?.debug({ signal: name }, 'already shutting down');
        return;
      }
      logger?.info({ signal: name }, 'shutdown requested');
      controller.abort();
    });
  }
  return controller.signal;
}
