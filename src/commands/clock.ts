import { setTimeout as delay } from 'node:timers/promises';

/**
 * Time as the long-running commands see it (rescan's rate, progress lines, a
 * redrive's polling), injected so their tests need no real waiting.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin (monotonic). */
  now(): number;
  /** Waits; rejects with an AbortError when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal ? { signal } : {}),
};
