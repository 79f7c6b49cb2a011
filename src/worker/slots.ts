/** Counts work in progress and lets the poller wait until there is room for more. */
export class Slots {
  readonly size: number;
  #used = 0;
  #waiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];

  constructor(size: number) {
    this.size = size;
  }

  get used(): number {
    return this.#used;
  }

  get free(): number {
    return this.size - this.#used;
  }

  acquire(): void {
    this.#used += 1;
  }

  release(): void {
    this.#used -= 1;
    this.#waiters.splice(0).forEach((wake) => wake());
    if (this.#used === 0) this.#idleWaiters.splice(0).forEach((wake) => wake());
  }

  /** Resolves as soon as at least one slot is free. */
  async waitForFree(): Promise<void> {
    while (this.#used >= this.size) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves when nothing is in progress. */
  async waitForIdle(): Promise<void> {
    if (this.#used === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
