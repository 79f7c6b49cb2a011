/**
 * Gathers single calls into batch calls (SQS takes up to 10 entries per
 * DeleteMessageBatch or SendMessageBatch). A batch goes out when it is full, or
 * `lingerMs` after its first entry, so a lone call waits at most that long; under
 * load batches fill and requests (billed per call) drop up to tenfold.
 *
 * With `expectMore`, a batch waits for company only while more entries are on
 * their way: when none are, what is pending goes at once, and `nudge` sends it
 * when the last that could have joined turns out not to.
 */
export interface BatcherOptions<T> {
  maxEntries: number;
  lingerMs: number;
  /** Whether more entries are on their way, given how many are pending; while false nothing waits out the linger. */
  expectMore?: (pending: number) => boolean;
  /** Size of an entry against `maxBytes` (SQS caps a batch at 256 KiB in all). */
  sizeOf?: (item: T) => number;
  maxBytes?: number;
  /**
   * Sends one batch. Resolves with the entries that failed (by index into
   * `items`, with the reason); rejects when the whole call failed.
   */
  send(items: T[]): Promise<Map<number, Error>>;
}

interface Pending<T> {
  item: T;
  resolve(): void;
  reject(error: Error): void;
}

export class Batcher<T> {
  readonly #options: BatcherOptions<T>;
  #pending: Pending<T>[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: BatcherOptions<T>) {
    if (options.maxEntries < 1) throw new RangeError('maxEntries must be at least 1');
    this.#options = options;
  }

  /** Resolves once this entry's batch has been accepted; rejects with its own failure. */
  add(item: T): Promise<void> {
    const size = this.#options.sizeOf?.(item) ?? 0;
    if (this.#options.maxBytes !== undefined && this.#pending.length > 0 && this.#bytes + size > this.#options.maxBytes) {
      this.flush();
    }
    const done = new Promise<void>((resolve, reject) => this.#pending.push({ item, resolve, reject }));
    this.#bytes += size;
    if (this.#pending.length >= this.#options.maxEntries || !this.#expectingMore()) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#options.lingerMs);
    return done;
  }

  /** Sends what is pending if no more entries are on their way (call it when what `expectMore` reads has changed). */
  nudge(): void {
    if (this.#pending.length > 0 && !this.#expectingMore()) this.flush();
  }

  #expectingMore(): boolean {
    return this.#options.expectMore?.(this.#pending.length) ?? true;
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#bytes = 0;
    const sending = this.#options
      .send(batch.map((entry) => entry.item))
      .then(
        (failures) => {
          batch.forEach((entry, index) => {
            const failure = failures.get(index);
            if (failure) entry.reject(failure);
            else entry.resolve();
          });
        },
        (error: unknown) => {
          const failure = error instanceof Error ? error : new Error(String(error));
          for (const entry of batch) entry.reject(failure);
        },
      )
      .finally(() => this.#inFlight.delete(sending));
    this.#inFlight.add(sending);
  }

  /** Sends what is pending and waits for every batch under way. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all([...this.#inFlight]);
  }
}
