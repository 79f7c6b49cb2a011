/** Exponential backoff: base, 2·base, 4·base… capped. attempt starts at 1. */
export function backoffSeconds(attempt: number, baseSeconds: number, capSeconds: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 20);
  return Math.min(capSeconds, baseSeconds * 2 ** exponent);
}

/**
 * Waits `ms`, or less if `signal` aborts; never rejects. The global setTimeout
 * rather than timers/promises, so that tests drive it with Node's mock timers.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
