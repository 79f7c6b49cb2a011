/**
 * What a file is, from its first bytes: the `file-type` package's magic-number
 * detectors, run on the head of the stream only. The head is read once, judged,
 * and handed on in front of the rest, so the file is streamed to clamd exactly as
 * before and never held whole: at most the sample and the one chunk that crossed
 * it are kept. A file's name never counts as evidence of its type; it is only
 * compared with what the bytes say (`typeMismatch`).
 */
import { fileTypeFromBuffer, supportedExtensions } from 'file-type';

/** file-type's own sample size: most formats are told within the first 4100 bytes. */
export const DEFAULT_SAMPLE_BYTES = 4100;

export interface DetectedType {
  /** file-type's extension for it: "pdf", "png", "exe", "docx"… */
  ext: string;
  /** Its MIME type: "application/pdf"… */
  mime: string;
}

/** The type the bytes say, or undefined when no detector knows them (plain text, CSV, JSON and the like). */
export async function detectType(head: Uint8Array): Promise<DetectedType | undefined> {
  if (head.length === 0) return undefined;
  const found = await fileTypeFromBuffer(head);
  return found ? { ext: found.ext, mime: found.mime } : undefined;
}

/** The head of a stream, and the whole stream again (the head first) for whoever reads on. */
export interface SampledStream {
  head: Buffer;
  /** True when the stream ended within the sample. */
  complete: boolean;
  /** Every byte of the source, in order; returning from it early closes the source. */
  body: AsyncIterable<Uint8Array>;
}

/**
 * Reads chunks until `sampleBytes` have arrived (or the source ends) and gives
 * them back with an iterable that replays them before reading on. Nothing more
 * than those chunks is buffered.
 */
export async function sampleHead(source: AsyncIterable<Uint8Array>, sampleBytes: number = DEFAULT_SAMPLE_BYTES): Promise<SampledStream> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let complete = false;
  try {
    while (bytes < sampleBytes) {
      const next = await iterator.next();
      if (next.done) {
        complete = true;
        break;
      }
      chunks.push(next.value);
      bytes += next.value.length;
    }
  } catch (error) {
    await iterator.return?.();
    throw error;
  }
  const head = Buffer.concat(chunks).subarray(0, sampleBytes);
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      yield* chunks;
      if (complete) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // A reader that stops early (clamd's verdict, a failure) releases the source.
      if (!complete) await iterator.return?.();
    }
  }
  return { head, complete, body: replay() };
}

/** The extension of a file name, lower case, without the dot; undefined when it has none. */
export function claimedExtension(filename: string): string | undefined {
  const base = filename.slice(filename.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return undefined;
  return base.slice(dot + 1).toLowerCase();
}

/**
 * Formats that are one format under several names, or containers whose members
 * are told apart only when the right part lies within the sample (an Office
 * document is a zip; file-type says "zip" when its [Content_Types].xml comes
 * late). A name in a group matches any detection in the same group.
 */
const FAMILIES: readonly (readonly string[])[] = [
  ['jpg', 'jpeg', 'jpe', 'jfif'],
  ['tif', 'tiff'],
  ['htm', 'html'],
  ['mpg', 'mpeg', 'mp2'],
  ['mp4', 'm4v', 'm4a', 'm4p', 'm4b', 'mov', 'f4v', 'f4p', 'f4a', 'f4b', '3gp', '3g2', 'qt'],
  ['gz', 'tgz', 'tar.gz'],
  ['exe', 'dll', 'sys', 'scr', 'cpl', 'ocx', 'com'],
  ['ai', 'pdf'],
  ['ogg', 'oga', 'ogv', 'ogm', 'ogx', 'opus', 'spx'],
  // OLE2 compound files: the old Office formats, Outlook messages, installers.
  ['cfb', 'doc', 'dot', 'xls', 'xlt', 'ppt', 'pot', 'pps', 'msg', 'msi', 'vsd'],
  // Zip containers: Office Open XML, OpenDocument, Java, Android, e-books, browser extensions.
  [
    'zip',
    'docx',
    'docm',
    'dotx',
    'dotm',
    'xlsx',
    'xlsm',
    'xltx',
    'xltm',
    'pptx',
    'pptm',
    'potx',
    'potm',
    'ppsx',
    'ppsm',
    'vsdx',
    'odt',
    'ods',
    'odp',
    'odg',
    'ott',
    'ots',
    'otp',
    'otg',
    'epub',
    'jar',
    'war',
    'ear',
    'apk',
    'aab',
    'xpi',
    'crx',
    'ipa',
    '3mf',
    'key',
    'numbers',
    'pages',
    'kmz',
  ],
];

function family(ext: string): readonly string[] {
  return FAMILIES.find((members) => members.includes(ext)) ?? [ext];
}

/** The name rules use for bytes no detector knows (plain text, CSV, JSON and the like). */
export const UNKNOWN_TYPE = 'unknown';

/**
 * Whether a type a rule names (an extension, or UNKNOWN_TYPE) covers what the
 * bytes show. `loose` (an allow list) lets a name cover its whole family, so that
 * an allowed "docx" whose Office part lies past the sample (detected as a zip)
 * passes; strict (a deny list) matches the detected type itself, or for a name
 * file-type never gives ("jpeg", "dll") the member of its family it gives: denying
 * "docm" must not deny every zip.
 */
export function typeCovers(name: string, detected: DetectedType | undefined, loose: boolean): boolean {
  const lower = name.toLowerCase();
  if (detected === undefined) return lower === UNKNOWN_TYPE;
  if (lower === detected.ext) return true;
  return (loose || !supportedExtensions.has(lower as never)) && family(lower).includes(detected.ext);
}

/** Whether file-type can recognise files of this extension at all. */
export function isDetectable(ext: string): boolean {
  return family(ext).some((member) => supportedExtensions.has(member as never));
}

export interface TypeMismatch {
  /** The extension the name claims. */
  claimed: string;
  detected: DetectedType;
}

/**
 * When a file's name claims a type file-type recognises and its bytes are another
 * it recognises (an `invoice.pdf` that is a Windows executable), the mismatch.
 * A name without an extension, an extension no detector knows (`.txt`, `.csv`:
 * any bytes may carry it), or bytes no detector knows, are no evidence either
 * way and give none; what a file may be at all is the type rules' job.
 */
export function typeMismatch(filename: string, detected: DetectedType | undefined): TypeMismatch | undefined {
  const claimed = claimedExtension(filename);
  if (claimed === undefined || detected === undefined || !isDetectable(claimed)) return undefined;
  return family(claimed).includes(detected.ext) ? undefined : { claimed, detected };
}
