/**
 * Parsing of clamd's replies. Pure functions over the raw reply bytes, so that the
 * one rule that matters most here — nothing but an exact "OK" ever means clean —
 * can be tested without a socket.
 */

import type { VerdictOf, Verdict } from '../verdict/verdict.ts';

export type Unscannable = VerdictOf<'unscannable'>;

/** What a finished scan says about a whole stream: any verdict but one on size, which is decided before a scan. */
export type ScanVerdict = Exclude<Verdict, { status: 'too-large' | 'disallowed-type' }>;

/** A reply as read off the socket: a verdict, or clamd's error. */
export type ScanReply = ScanVerdict | { status: 'error'; message: string };

export interface EngineInfo {
  /** ClamAV engine version, e.g. "1.4.6". */
  clamav: string;
  /** Version of the daily database; null when no official database is loaded. */
  databaseVersion: number | null;
  /**
   * Build time of the daily database. clamd renders it with ctime(), i.e. in clamd's
   * local time zone without saying which, so when it parses it is an ISO 8601 local
   * date-time with no offset ("2025-10-30T09:22:40") rather than a guessed UTC
   * instant; when it does not parse it is clamd's text as is.
   */
  databaseDate: string | null;
  /** The reply without its terminator, for logs. */
  raw: string;
}

const NUL = 0x00;
const SPACE = 0x20;

const STREAM_PREFIX = Buffer.from('stream: ');
const OK = Buffer.from('OK');
const FOUND_SUFFIX = Buffer.from(' FOUND');
const ERROR_SUFFIX = Buffer.from(' ERROR');
/** clamd's reply when an INSTREAM frame would take the stream past StreamMaxLength; it then hangs up. */
export const STREAM_LIMIT_REPLY = Buffer.from('INSTREAM size limit exceeded. ERROR');

/** The stream limit as an outcome; see UnscannableReason. */
export function streamLimitExceeded(): Unscannable {
  return { status: 'unscannable', reason: 'stream-limit', detail: "the file is larger than clamd's StreamMaxLength", signature: null };
}

/**
 * Names libclamav itself gives to "could not scan all of this". clamd reports them
 * exactly so, without the ".UNOFFICIAL" suffix it adds to names from unsigned
 * databases: they come from the engine, not from any database. A name with that
 * suffix (or any other) is therefore a real signature that happens to look alike,
 * and stays a detection.
 */
const LIMIT_PREFIX = 'Heuristics.Limits.Exceeded.';
const ENCRYPTED_PREFIX = 'Heuristics.Encrypted.';

const LIMIT_DETAILS: ReadonlyMap<string, string> = new Map([
  ['MaxFileSize', "the file, or a file inside it, is larger than clamd's MaxFileSize"],
  ['MaxScanSize', "it unpacks to more data than clamd's MaxScanSize"],
  ['MaxFiles', "it holds more files than clamd's MaxFiles"],
  ['MaxRecursion', "containers nested deeper than clamd's MaxRecursion"],
  ['MaxScanTime', "scanning it took longer than clamd's MaxScanTime"],
]);

/** How much of an unexpected reply is quoted in an error message. */
const EXCERPT_BYTES = 200;

/**
 * Reads the reply to INSTREAM. Replies look like "stream: OK",
 * "stream: Win.Test.EICAR_HDB-1 FOUND" or "<reason> ERROR". Everything that is not
 * exactly one of these shapes is an error: an unknown reply must never pass as clean.
 * Two kinds of reply mean "could not be fully scanned" and become `unscannable`:
 * libclamav's limit and encryption alerts (see classifyDetection), and "INSTREAM
 * size limit exceeded. ERROR" (no "stream: " prefix), which clamd sends when the
 * stream is longer than its StreamMaxLength: retrying cannot change that answer.
 *
 * Signatures are decoded as UTF-8. A signature that is not valid UTF-8 (clamd
 * passes through whatever bytes a database used, often Latin-1) keeps its ASCII and
 * has every other byte written as \xNN, so no information is lost and the result is
 * plain text; control characters are escaped the same way and a backslash is
 * doubled, so an escaped signature cannot be mistaken for a literal one.
 */
export function parseScanReply(reply: Buffer): ScanReply {
  const text = trimReply(reply);
  if (text.length === 0) return { status: 'error', message: 'clamd sent an empty reply' };

  if (isStreamLimitReply(text)) return streamLimitExceeded();
  if (endsWith(text, ERROR_SUFFIX) || text.equals(ERROR_SUFFIX.subarray(1))) {
    return { status: 'error', message: `clamd reported an error: ${describeBytes(text)}` };
  }

  if (startsWith(text, STREAM_PREFIX)) {
    const result = text.subarray(STREAM_PREFIX.length);
    if (result.equals(OK)) return { status: 'clean' };
    if (endsWith(result, FOUND_SUFFIX)) {
      const name = result.subarray(0, result.length - FOUND_SUFFIX.length);
      // Names never contain a space in ClamAV's own databases, but a custom database
      // can have one; the reply's framing is unambiguous either way.
      if (trimReply(name).length > 0) return classifyDetection(decodeSignature(name));
    }
  }

  return { status: 'error', message: `clamd sent an unrecognised reply: ${describeBytes(text)}` };
}

/** Whether a reply (terminator and surrounding blanks allowed) is clamd's stream limit refusal. */
export function isStreamLimitReply(reply: Buffer): boolean {
  return trimReply(reply).equals(STREAM_LIMIT_REPLY);
}

/**
 * A FOUND name as a verdict: libclamav's limit and encryption alerts mean that
 * part of the file went unscanned, not that anything was found in it; every other
 * name is a detection. A detection and a limit can both apply to one file; clamd
 * then reports one of them (a signature match by default, see
 * HeuristicScanPrecedence in docs/clamd.md), and either way the file is not clean.
 */
export function classifyDetection(signature: string): { status: 'infected'; signature: string } | Unscannable {
  if (signature.startsWith(LIMIT_PREFIX) && isEngineName(signature.slice(LIMIT_PREFIX.length))) {
    const limit = signature.slice(LIMIT_PREFIX.length);
    const detail = LIMIT_DETAILS.get(limit) ?? `it exceeds clamd's ${limit} limit`;
    return { status: 'unscannable', reason: 'limit-exceeded', detail, signature };
  }
  if (signature.startsWith(ENCRYPTED_PREFIX) && isEngineName(signature.slice(ENCRYPTED_PREFIX.length))) {
    const format = signature.slice(ENCRYPTED_PREFIX.length);
    return { status: 'unscannable', reason: 'encrypted', detail: `encrypted ${format} content that clamd cannot open`, signature };
  }
  return { status: 'infected', signature };
}

/** The last part of an engine-made name: one word, no database suffix. */
function isEngineName(part: string): boolean {
  return /^[A-Za-z0-9]+$/.test(part);
}

const VERSION_PATTERN = /^ClamAV ([0-9A-Za-z._+~-]+)(?:\/([0-9]+)(?:\/([\x20-\x7e]+))?)?$/;

/**
 * Reads the reply to VERSION: "ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025" with an
 * official database, plain "ClamAV 1.4.6" when none is loaded (custom signatures do
 * not count). Throws on anything else, with an escaped excerpt of the reply.
 */
export function parseVersionReply(reply: Buffer): EngineInfo {
  const text = trimReply(reply);
  // The reply is ASCII when well formed; latin1 maps each byte to one character so a
  // malformed one cannot make decoding throw, and the pattern then rejects it.
  const match = VERSION_PATTERN.exec(text.toString('latin1'));
  const clamav = match?.[1];
  if (!match || clamav === undefined) {
    throw new Error(`clamd sent an unrecognised VERSION reply: ${describeBytes(text)}`);
  }
  const [raw, , databaseVersion, databaseDate] = match;
  return {
    clamav,
    databaseVersion: databaseVersion === undefined ? null : Number(databaseVersion),
    databaseDate: databaseDate === undefined ? null : (ctimeToIso(databaseDate) ?? databaseDate),
    raw,
  };
}

/**
 * An excerpt of arbitrary bytes that is safe to put in a message or a log line:
 * printable ASCII as is, a backslash doubled, every other byte as \xNN, cut at
 * `limit` bytes with a note of how much was left out.
 */
export function describeBytes(bytes: Uint8Array, limit: number = EXCERPT_BYTES): string {
  const shown = bytes.subarray(0, limit);
  let out = '"';
  for (const byte of shown) out += escapeByte(byte);
  out += '"';
  if (bytes.length > shown.length) out += ` (+${bytes.length - shown.length} more bytes)`;
  return out;
}

/** Drops clamd's NUL terminator and any surrounding whitespace. */
function trimReply(reply: Buffer): Buffer {
  let start = 0;
  let end = reply.length;
  while (end > start && isTrimmable(reply[end - 1] ?? NUL)) end--;
  while (start < end && isTrimmable(reply[start] ?? NUL)) start++;
  return reply.subarray(start, end);
}

function isTrimmable(byte: number): boolean {
  // NUL, tab, LF, VT, FF, CR, space: clamd terminates with NUL ("z" commands) or LF
  // ("n" commands); nothing else at either end is part of a reply.
  return byte === NUL || byte === SPACE || (byte >= 0x09 && byte <= 0x0d);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeSignature(bytes: Buffer): string {
  let decoded: string;
  try {
    decoded = strictUtf8.decode(bytes);
  } catch {
    let out = '';
    for (const byte of bytes) out += escapeByte(byte);
    return out;
  }
  let out = '';
  for (const char of decoded) {
    const code = char.codePointAt(0) ?? 0;
    if (code === 0x5c) out += '\\\\';
    else if (code < 0x20 || code === 0x7f) out += escapeByte(code);
    // C1 controls survive UTF-8 decoding as code points, not bytes, so they get a
    // code point escape; \xNN is reserved for bytes.
    else if (code >= 0x80 && code <= 0x9f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return out;
}

function escapeByte(byte: number): string {
  if (byte === 0x5c) return '\\\\';
  if (byte >= 0x20 && byte <= 0x7e) return String.fromCharCode(byte);
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

function endsWith(bytes: Buffer, suffix: Buffer): boolean {
  return bytes.length >= suffix.length && bytes.subarray(bytes.length - suffix.length).equals(suffix);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const CTIME_PATTERN = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) {1,2}([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})$/;

/** "Thu Oct 30 09:22:40 2025" (ctime, day padded with a space) to "2025-10-30T09:22:40". */
function ctimeToIso(text: string): string | null {
  const match = CTIME_PATTERN.exec(text);
  if (!match) return null;
  const [, monthName = '', day = '', hour = '', minute = '', second = '', year = ''] = match;
  const month = MONTHS.indexOf(monthName) + 1;
  if (month === 0) return null;
  const parts = [Number(year), month, Number(day), Number(hour), Number(minute), Number(second)] as const;
  // Round-trip through UTC purely to reject impossible dates such as Feb 31; the
  // result is still reported as a local time (see EngineInfo.databaseDate).
  const probe = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]));
  if (
    probe.getUTCFullYear() !== parts[0] ||
    probe.getUTCMonth() !== parts[1] - 1 ||
    probe.getUTCDate() !== parts[2] ||
    probe.getUTCHours() !== parts[3] ||
    probe.getUTCMinutes() !== parts[4] ||
    probe.getUTCSeconds() !== parts[5]
  ) {
    return null;
  }
  const two = (n: number) => String(n).padStart(2, '0');
  return `${year}-${two(month)}-${two(parts[2])}T${two(parts[3])}:${two(parts[4])}:${two(parts[5])}`;
}
