/**
 * Signature sets for the benchmark.
 *
 * - small: the project's test signatures only (one MD5 hash, one body signature).
 *   clamd then does almost no matching work per byte, which flatters every
 *   throughput figure.
 * - large: the test signatures plus a generated `.ndb` of random body signatures
 *   (100,000 by default, target "any file", offset "anywhere"), so that clamd's
 *   per-byte matching cost is of the order of the official database's rather than
 *   next to nothing. By default they are plain 16-32 byte strings (clamd's
 *   Boyer-Moore matcher); `wildcardShare` gives a share of them a `??` byte, which
 *   sends them to its Aho-Corasick matcher and costs several times more per byte.
 *   They come from a fixed seed, so every run scans against the same set; random
 *   data does not match them (each has at least 15 fixed bytes).
 * - official: the test signatures plus the official database in /var/lib/clamav
 *   (only when freshclam has put one there).
 */
import { copyFileSync, createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';

export type SignatureSetName = 'small' | 'large' | 'official';

export const TEST_SIGNATURES_DIR = fileURLToPath(new URL('../test/fixtures/signatures/', import.meta.url));
export const OFFICIAL_DATABASE_DIR = '/var/lib/clamav';

/** xorshift32: a tiny deterministic generator, so the large set is the same on every run. */
export function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** Default share of generated signatures with a `??` wildcard byte (Aho-Corasick rather than Boyer-Moore). */
const WILDCARD_SHARE = 0;
const MIN_BYTES = 16;
const MAX_BYTES = 32;

/** One `.ndb` line: name, target type 0 (any file), offset * (anywhere), hex. */
export function randomSignatureLine(index: number, next: () => number, wildcardShare = WILDCARD_SHARE): string {
  const length = MIN_BYTES + (next() % (MAX_BYTES - MIN_BYTES + 1));
  const bytes: string[] = [];
  for (let i = 0; i < length; i++) bytes.push((next() & 0xff).toString(16).padStart(2, '0'));
  if (next() / 0xffff_ffff < wildcardShare) bytes[Math.floor(length / 2)] = '??';
  return `Bench.Random.Body-${index}:0:*:${bytes.join('')}`;
}

/**
 * Writes a signature directory for startClamd's `signaturesDir`: copies of the
 * test signatures plus `bench-random.ndb` with `count` random body signatures.
 */
export async function writeLargeSignatureSet(
  dir: string,
  count: number,
  options: { seed?: number; wildcardShare?: number } = {},
): Promise<string> {
  const seed = options.seed ?? 20260101;
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(TEST_SIGNATURES_DIR)) {
    if (/\.(hdb|ndb)$/.test(name)) copyFileSync(join(TEST_SIGNATURES_DIR, name), join(dir, name));
  }
  const path = join(dir, 'bench-random.ndb');
  const out = createWriteStream(path);
  const next = xorshift(seed);
  let buffered: string[] = [];
  for (let i = 0; i < count; i++) {
    buffered.push(randomSignatureLine(i, next, options.wildcardShare));
    if (buffered.length === 5000 || i === count - 1) {
      if (!out.write(`${buffered.join('\n')}\n`)) await once(out, 'drain');
      buffered = [];
    }
  }
  out.end();
  await once(out, 'finish');
  return dir;
}
