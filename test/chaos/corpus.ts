/**
 * The files a chaos run uploads, generated from the seed: clean files of varied
 * sizes (some with names that need encoding in events, some that nearly match a
 * signature), infected files (EICAR alone, the test marker buried in the middle
 * of larger files, the marker inside a zip), files over MAX_FILE_SIZE, and
 * objects whose keys do not follow the `<uuid>/<filename>` layout (some of them
 * infected: an invalid key is left alone whatever it holds).
 */
import { createHash } from 'node:crypto';
import { eicar, MARKER, MARKER_SIGNATURE, EICAR_SIGNATURE, zipStored } from '../support/samples.ts';
import type { Random } from '../../harness/random.ts';

export type Expectation =
  /** Valid key, clean content: forwarded at least once, left in place, never quarantined. */
  | 'clean'
  /** Valid key, infected content: quarantined with a report and a notification, gone from unprocessed. */
  | 'infected'
  /** Valid key, larger than MAX_FILE_SIZE: quarantined as TOO_LARGE, like an infected file. */
  | 'too-large'
  /** Key outside the layout: untouched, never forwarded nor quarantined. */
  | 'invalid';

export type Variant =
  | 'clean-tiny'
  | 'clean-small'
  | 'clean-medium'
  | 'clean-large'
  | 'clean-empty'
  | 'clean-near-miss'
  | 'eicar'
  | 'marker-buried'
  | 'marker-zip'
  | 'too-large'
  | 'invalid-clean'
  | 'invalid-infected';

export interface CorpusFile {
  key: string;
  variant: Variant;
  expect: Expectation;
  /** The signature clamd must report; null for clean, invalid and too-large files. */
  signature: string | null;
  size: number;
  md5: string;
  /** Builds the content again on demand, so the whole corpus is never held in memory. */
  content(): Buffer;
}

export interface CorpusOptions {
  files: number;
  maxFileSizeBytes: number;
  random: Random;
}

const MIX: Record<Variant, number> = {
  'clean-tiny': 16,
  'clean-small': 20,
  'clean-medium': 14,
  'clean-large': 5,
  'clean-empty': 1,
  'clean-near-miss': 4,
  eicar: 10,
  'marker-buried': 10,
  'marker-zip': 2,
  'too-large': 2,
  'invalid-clean': 11,
  'invalid-infected': 5,
};

/** Filenames that S3 encodes in events (space as +, + as %2B, UTF-8 as %XX). */
const AWKWARD_NAMES = ['report final.pdf', 'a+b=c.txt', 'résumé.docx', '数据.csv', 'q?x&y.bin', '50% off.txt'];

function invalidKey(random: Random, index: number): string {
  const uuid = random.uuid();
  switch (random.int(0, 5)) {
    case 0:
      return `no-uuid-${index}/file-${index}.txt`;
    case 1:
      return `${uuid}/nested/file-${index}.txt`;
    case 2:
      return `root-file-${index}.bin`;
    case 3:
      return `${uuid.slice(0, 30)}/short-${index}.txt`;
    case 4:
      return `${uuid}/a/b/c-${index}.dat`;
    default:
      return `${uuid}x/${index}.txt`;
  }
}

function validKey(random: Random, index: number, extension: string): string {
  const name = random.chance(0.08) ? `${index}-${random.pick(AWKWARD_NAMES)}` : `file-${index}${extension}`;
  return `${random.uuid()}/${name}`;
}

/** Random bytes with the marker in the middle. */
function buried(seedBytes: Buffer, size: number): Buffer {
  const marker = Buffer.from(MARKER, 'ascii');
  const total = Math.max(size, marker.length + 2);
  const at = Math.floor((total - marker.length) / 2);
  const out = Buffer.alloc(total);
  fill(out, seedBytes);
  marker.copy(out, at);
  return out;
}

/** Cheap deterministic filler: repeats a random block, rotated per copy so it does not compress to nothing. */
function fill(target: Buffer, block: Buffer): void {
  if (block.length === 0) return;
  for (let offset = 0, turn = 0; offset < target.length; offset += block.length, turn++) {
    const rotated = turn % block.length;
    const part = Buffer.concat([block.subarray(rotated), block.subarray(0, rotated)]);
    part.copy(target, offset, 0, Math.min(part.length, target.length - offset));
  }
}

function sized(block: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  fill(out, block);
  return out;
}

export function buildCorpus(options: CorpusOptions): CorpusFile[] {
  const { random, maxFileSizeBytes } = options;
  const files: CorpusFile[] = [];
  const keys = new Set<string>();
  const largest = Math.max(64 * 1024, maxFileSizeBytes - 256 * 1024);
  for (let index = 0; files.length < options.files; index++) {
    const variant = random.weighted(MIX);
    // Each file has its own block of random bytes (64 KiB at most) that its content is built from.
    const block = random.bytes(random.int(1024, 64 * 1024));
    let key: string;
    let expect: Expectation;
    let signature: string | null = null;
    let make: () => Buffer;
    switch (variant) {
      case 'clean-empty':
        key = validKey(random, index, '.txt');
        expect = 'clean';
        make = () => Buffer.alloc(0);
        break;
      case 'clean-tiny': {
        const size = random.int(1, 512);
        key = validKey(random, index, '.txt');
        expect = 'clean';
        make = () => sized(block, size);
        break;
      }
      case 'clean-small': {
        const size = random.logInt(512, 64 * 1024);
        key = validKey(random, index, '.bin');
        expect = 'clean';
        make = () => sized(block, size);
        break;
      }
      case 'clean-medium': {
        const size = random.logInt(64 * 1024, 1024 * 1024);
        key = validKey(random, index, '.dat');
        expect = 'clean';
        make = () => sized(block, size);
        break;
      }
      case 'clean-large': {
        const size = random.logInt(1024 * 1024, largest);
        key = validKey(random, index, '.iso');
        expect = 'clean';
        make = () => sized(block, size);
        break;
      }
      case 'clean-near-miss': {
        // The marker with its last character changed, in the middle: must not match.
        const size = random.logInt(1024, 256 * 1024);
        key = validKey(random, index, '.txt');
        expect = 'clean';
        make = () => {
          const out = buried(block, size);
          const at = out.indexOf(MARKER.slice(0, -1), 0, 'ascii') + MARKER.length - 1;
          out[at] = out[at] === 0x78 ? 0x79 : 0x78;
          return out;
        };
        break;
      }
      case 'eicar':
        key = validKey(random, index, '.com');
        expect = 'infected';
        signature = EICAR_SIGNATURE;
        make = () => eicar();
        break;
      case 'marker-buried': {
        const size = random.logInt(16 * 1024, largest);
        key = validKey(random, index, '.bin');
        expect = 'infected';
        signature = MARKER_SIGNATURE;
        make = () => buried(block, size);
        break;
      }
      case 'marker-zip': {
        const size = random.logInt(4 * 1024, 512 * 1024);
        key = validKey(random, index, '.zip');
        expect = 'infected';
        signature = MARKER_SIGNATURE;
        make = () =>
          zipStored([
            { name: 'readme.txt', data: sized(block.subarray(0, 512), 2048) },
            { name: 'payload.bin', data: buried(block, size) },
          ]);
        break;
      }
      case 'too-large': {
        const size = maxFileSizeBytes + random.int(1, 512 * 1024);
        key = validKey(random, index, '.img');
        expect = 'too-large';
        make = () => sized(block, size);
        break;
      }
      case 'invalid-clean': {
        const size = random.logInt(1, 128 * 1024);
        key = invalidKey(random, index);
        expect = 'invalid';
        make = () => sized(block, size);
        break;
      }
      case 'invalid-infected':
        key = invalidKey(random, index);
        expect = 'invalid';
        make = random.chance(0.5)
          ? () => eicar()
          : (
              (size: number) => () =>
                buried(block, size)
            )(random.logInt(1024, 64 * 1024));
        break;
    }
    if (keys.has(key)) continue;
    keys.add(key);
    const content = make();
    files.push({
      key,
      variant,
      expect,
      signature,
      size: content.length,
      md5: createHash('md5').update(content).digest('hex'),
      content: make,
    });
  }
  return files;
}
