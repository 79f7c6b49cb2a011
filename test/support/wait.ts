import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls observable state until `probe` returns a value other than undefined, or
 * fails after the deadline with `what` in the message. The deadline is a guard
 * against hanging, not an assertion about speed.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await delay(25);
  }
}

/**
 * waitFor for a test that runs a worker in its own process: `until` also fails at
 * once when `fail` is called (the worker died), rather than at its deadline.
 */
export function failFast(timeoutMs = 30_000) {
  let fail!: (error: unknown) => void;
  const failure = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  failure.catch(() => undefined);
  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> =>
    Promise.race([waitFor(what, probe, timeoutMs), failure]);
  return { fail, until };
}
