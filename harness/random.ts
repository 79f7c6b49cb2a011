/**
 * Seeded randomness for the chaos suite. Every random choice (the corpus, the
 * faults, the kill moments) comes from a stream derived from one printed seed, so
 * a failing run can be repeated with the same inputs and the same schedule. The
 * interleaving of processes is up to the OS and is not reproduced exactly.
 */

/** sfc32: small, fast, and good enough for test schedules (not for secrets). */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, stream = 0) {
    // Spread the seed and the stream number over the state, then warm up.
    this.#a = 0x9e3779b9 ^ seed;
    this.#b = 0x243f6a88 ^ Math.imul(stream + 1, 0x85ebca6b);
    this.#c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
    this.#d = 1;
    for (let i = 0; i < 20; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  next(): number {
    return this.uint32() / 0x1_0000_0000;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Real number in [min, max). */
  between(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }

  /** Log-uniform integer in [min, max]: as many small sizes as large ones per decade. */
  logInt(min: number, max: number): number {
    const low = Math.log(Math.max(1, min));
    const high = Math.log(Math.max(1, max));
    return Math.min(max, Math.max(min, Math.round(Math.exp(this.between(low, high)))));
  }

  /** Fills a buffer with pseudo-random bytes. */
  bytes(length: number): Buffer {
    const buffer = Buffer.allocUnsafe(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) buffer.writeUInt32LE(this.uint32(), i);
    for (; i < length; i++) buffer[i] = this.uint32() & 0xff;
    return buffer;
  }

  /** A version 4 UUID made of seeded bits, so keys repeat with the seed. */
  uuid(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

/** A seed when none is given: printed with the results so the run can be repeated. */
export function freshSeed(): number {
  return Math.floor(Math.random() * 0x7fff_ffff) + 1;
}
