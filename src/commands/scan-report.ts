/**
 * The pure half of `bucketscan scan`: what its arguments name, how a clamd verdict
 * becomes a status, how each result is written, and the exit code.
 *
 * A target's outcome is the worker's own Verdict (src/verdict/verdict.ts): clamd's,
 * or the size rule's through the worker's `tooLarge`, so `scan` and the worker
 * cannot disagree about what is clean. Its status column is spelled there too.
 */
import { parseS3Url, S3_SCHEME } from '../aws/s3-url.ts';
import { scanStatusOf, signatureOf, type UnscannableReason, type Verdict, type VerdictOf } from '../verdict/verdict.ts';

export type ScanTargetSpec =
  | { kind: 'file'; target: string; path: string }
  | { kind: 's3'; target: string; bucket: string; key: string }
  | { kind: 'stdin'; target: string };

/**
 * Reads the targets: `-` is stdin (once at most), `s3://…` an S3 object (which
 * must parse), anything else a local path, checked only when it is opened.
 * Mistakes found here stop the command before anything is scanned.
 */
export function parseTargets(args: readonly string[]): { ok: true; targets: ScanTargetSpec[] } | { ok: false; reason: string } {
  if (args.length === 0) return { ok: false, reason: 'nothing to scan: give files, s3://bucket/key URLs, or - for stdin' };
  const targets: ScanTargetSpec[] = [];
  for (const arg of args) {
    if (arg === '-') {
      if (targets.some((t) => t.kind === 'stdin')) return { ok: false, reason: 'stdin (-) can be scanned only once' };
      targets.push({ kind: 'stdin', target: arg });
    } else if (arg.startsWith(S3_SCHEME)) {
      const parsed = parseS3Url(arg);
      if (!parsed.ok) return { ok: false, reason: `${printable(arg)}: ${parsed.reason}` };
      targets.push({ kind: 's3', target: arg, ...parsed.value });
    } else if (/^s3:/i.test(arg)) {
      // s3:/b/k, S3://b/k: a mistyped URL, not a file anyone means (./s3:x names such a file).
      return {
        ok: false,
        reason: `${printable(arg)}: an S3 URL starts with s3:// (for a local file of that name, write ./${printable(arg)})`,
      };
    } else if (arg === '') {
      return { ok: false, reason: 'an empty argument names no file' };
    } else {
      targets.push({ kind: 'file', target: arg, path: arg });
    }
  }
  return { ok: true, targets };
}

/** Why a file was not fully scanned: clamd's reasons, plus MAX_FILE_SIZE checked before clamd. */
export type UnscannableWhy = UnscannableReason | 'too-large';

/** What became of one target: a verdict, or why it could not be checked. */
export type ScanOutcome = Verdict | { status: 'error'; detail: string };

export interface TargetReport {
  target: ScanTargetSpec;
  outcome: ScanOutcome;
  /**
   * The target's length: bytes read when it was read to the end (clean, infected,
   * and most UNSCANNABLE), its known size when refused as too large before reading;
   * null when it was not read to the end (an error, clamd's stream limit).
   */
  bytes: number | null;
  /** The S3 version scanned (null when the bucket is unversioned, and for other targets). */
  versionId: string | null;
  /** The S3 object's ETag, without quotes (null for other targets). */
  eTag: string | null;
}

/** A stream of unknown size that ran past MAX_FILE_SIZE while it was being sent. */
export function streamTooLong(maxFileSizeBytes: number): VerdictOf<'too-large'> {
  return { status: 'too-large', size: undefined, maxBytes: maxFileSizeBytes };
}

/** The status column: the verdict's spelling for `scan`, or ERROR. */
export function statusColumn(outcome: ScanOutcome): 'CLEAN' | 'INFECTED' | 'UNSCANNABLE' | 'ERROR' {
  return outcome.status === 'error' ? 'ERROR' : scanStatusOf(outcome);
}

/** Why an UNSCANNABLE target was not fully scanned, in a word (the JSON `reason`). */
function unscannableWhy(outcome: VerdictOf<'unscannable' | 'too-large'>): UnscannableWhy {
  return outcome.status === 'too-large' ? 'too-large' : outcome.reason;
}

/** What was not scanned (UNSCANNABLE) or what went wrong (ERROR), in words; null otherwise. */
function detailOf(outcome: ScanOutcome): string | null {
  switch (outcome.status) {
    case 'unscannable':
    case 'error':
      return outcome.detail;
    case 'too-large':
      return outcome.size === undefined
        ? `longer than MAX_FILE_SIZE (more than ${outcome.maxBytes} bytes)`
        : `larger than MAX_FILE_SIZE (${outcome.size} bytes; the limit is ${outcome.maxBytes})`;
    default:
      return null;
  }
}

/**
 * Precedence: any ERROR makes it 2 (a target that could not be checked may be
 * anything), else anything INFECTED or UNSCANNABLE makes it 1, else 0. The same
 * order as clamdscan's.
 */
export function exitCode(reports: readonly TargetReport[]): 0 | 1 | 2 {
  if (reports.some((r) => r.outcome.status === 'error')) return 2;
  if (reports.some((r) => r.outcome.status !== 'clean')) return 1;
  return 0;
}

/** How a target is named in text output: as given, stdin as "stdin" (clamdscan says "stream"). */
export function displayName(target: ScanTargetSpec): string {
  return target.kind === 'stdin' ? 'stdin' : printable(target.target);
}

/** One clamdscan-style line, without its newline. */
export function textLine(report: TargetReport): string {
  const name = displayName(report.target);
  const { outcome } = report;
  switch (outcome.status) {
    case 'clean':
      return `${name}: OK`;
    case 'infected':
      return `${name}: ${outcome.signature} FOUND`;
    case 'error':
      return `${name}: ERROR ${controlsEscaped(outcome.detail)}`;
    default: {
      const signature = signatureOf(outcome);
      return `${name}: ${controlsEscaped(detailOf(outcome) ?? '')}${signature ? ` (${signature})` : ''} ${scanStatusOf(outcome)}`;
    }
  }
}

/**
 * One JSON line, without its newline. Every field is always present, null where
 * it does not apply, so a consumer needs no existence checks.
 */
export function jsonLine(report: TargetReport): string {
  const { outcome, target } = report;
  return JSON.stringify({
    target: target.target,
    kind: target.kind,
    status: statusColumn(outcome),
    signature: outcome.status === 'error' ? null : signatureOf(outcome),
    reason: outcome.status === 'unscannable' || outcome.status === 'too-large' ? unscannableWhy(outcome) : null,
    detail: detailOf(outcome),
    bytes: report.bytes,
    bucket: target.kind === 's3' ? target.bucket : null,
    key: target.kind === 's3' ? target.key : null,
    versionId: report.versionId,
    eTag: report.eTag,
  });
}

/**
 * A name as it may be shown on a terminal: backslashes doubled and control
 * characters (C0, DEL, C1, and the Unicode line and paragraph separators) escaped,
 * so a file name cannot start a line of its own or forge another result.
 */
export function printable(text: string): string {
  return controlsEscaped(text.replace(/\\/g, '\\\\'));
}

function controlsEscaped(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => {
    const code = char.codePointAt(0) ?? 0;
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
