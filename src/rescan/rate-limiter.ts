import { realClock, type Clock } from '../shared/time.ts';

/**
 * A token bucket: at most `rate` messages per second on average, with bursts of at
 * most `burst` messages (one batch). Tokens accrue continuously; taking more than
 * there are waits for the difference, so a long run holds the rate exactly
 * whatever the batch sizes.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(rate: number, burst: number, clock: Clock = realClock) {
    if (!(rate > 0)) throw new RangeError('rate must be above 0');
    if (!(burst >= 1)) throw new RangeError('burst must be at least 1');
    this.#rate = rate;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
  }

  /**
   * Resolves when `count` messages may go. Rejects (AbortError) when `signal`
   * aborts first; the tokens are then not taken.
   */
  async take(count: number, signal?: AbortSignal): Promise<void> {
    if (count > this.#burst) throw new RangeError(`cannot take ${count} at once with a burst of ${this.#burst}`);
    for (;;) {
      signal?.throwIfAborted();
      this.#refill();
      if (this.#tokens >= count) {
        this.#tokens -= count;
        return;
      }
      const waitMs = Math.ceil(((count - this.#tokens) / this.#rate) * 1000);
      await this.#clock.sleep(waitMs, signal);
    }
  }
}

/**
 * Messages per SendMessageBatch under a rate: ten (SQS's maximum) when the rate
 * allows, fewer below 10/s so that no one-second window sees more than the rate.
 */
export function batchSizeFor(rate: number | undefined): number {
  if (rate === undefined) return 10;
  return Math.max(1, Math.min(10, Math.floor(rate)));
}
