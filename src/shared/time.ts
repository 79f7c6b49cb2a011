/**
 * Time, injected where a loop waits, so that its tests need no real waiting: one
 * sleep, one exponential backoff and one retry-until-ready loop for the whole
 * project. The sleep uses the global setTimeout, which Node's mock timers
 * replace in tests.
 */

/**
 * Waits `ms`, or less when `signal` aborts; never rejects, so a caller checks
 * `signal.aborted` afterwards rather than catching.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Time as the long-running commands see it (rescan's rate, progress lines, a
 * redrive's polling), injected so their tests need no real waiting.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin (monotonic). */
  now(): number;
  /** Waits, as `sleep` does: less when `signal` aborts, never rejecting. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep,
};

/** Exponential backoff: base, 2·base, 4·base… capped. attempt starts at 1. */
export function backoffSeconds(attempt: number, baseSeconds: number, capSeconds: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 20);
  return Math.min(capSeconds, baseSeconds * 2 ** exponent);
}

export interface RetryOptions {
  /** Ends the retries: retryUntil then resolves undefined. Also given to each attempt. */
  signal: AbortSignal;
  /** The wait after failed attempt `attempt` (from 1), in milliseconds. */
  delayMs(attempt: number): number;
  /** Sees each failure first; throwing from it stops at once with that error (what waiting cannot fix). */
  check?(error: unknown, attempt: number): void;
  /** Called before each wait (not once the signal has aborted), e.g. to log; it may throw to stop too. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

/**
 * Calls `attempt` until it resolves, waiting `delayMs` between failures: for a
 * dependency that is still starting (clamd loading its database, SQS throttling
 * at start). Resolves undefined when the signal aborts first.
 */
export async function retryUntil<T>(
  attempt: (signal: AbortSignal, attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T | undefined> {
  const { signal } = options;
  for (let count = 1; !signal.aborted; count += 1) {
    try {
      return await attempt(signal, count);
    } catch (error) {
      options.check?.(error, count);
      if (signal.aborted) break;
      const wait = options.delayMs(count);
      options.onRetry?.(error, count, wait);
      await sleep(wait, signal);
    }
  }
  return undefined;
}
