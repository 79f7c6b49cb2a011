/**
 * The pure half of `bucketscan scan`: what its arguments name, how a clamd verdict
 * becomes a status, how each result is written, and the exit code.
 *
 * Verdicts go through the worker's own decideAfterScan and the size rule through
 * isTooLarge, so `scan` and the worker cannot disagree about what is clean.
 */
import { parseS3Url, S3_SCHEME } from '../aws/s3-url.ts';
import { decideAfterScan, isTooLarge } from '../pipeline/decide.ts';
import type { UnscannableReason } from '../scan/reply.ts';
import type { ScanVerdict } from '../scan/reply.ts';

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

export type ScanOutcome =
  | { status: 'CLEAN' }
  | { status: 'INFECTED'; signature: string }
  | { status: 'UNSCANNABLE'; reason: UnscannableWhy; detail: string; signature: string | null }
  | { status: 'ERROR'; detail: string };

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

/** A clamd verdict as a status, by the worker's own rule (UNSCANNABLE_ACTION does not matter here: never clean). */
export function outcomeFromVerdict(verdict: ScanVerdict): ScanOutcome {
  const decision = decideAfterScan(verdict, 'quarantine');
  switch (decision.status) {
    case 'CLEAN':
      return { status: 'CLEAN' };
    case 'INFECTED':
      return { status: 'INFECTED', signature: decision.signature };
    case 'UNSCANNABLE':
      return {
        status: 'UNSCANNABLE',
        // Only an unscannable verdict is decided UNSCANNABLE; it carries clamd's reason.
        reason: verdict.status === 'unscannable' ? verdict.reason : 'limit-exceeded',
        detail: decision.detail,
        signature: decision.signature,
      };
  }
}

/** Whether a target of known size is refused before clamd sees it, as the worker refuses it (TOO_LARGE). */
export function refusedForSize(size: number, maxFileSizeBytes: number): ScanOutcome | undefined {
  if (!isTooLarge(size, maxFileSizeBytes)) return undefined;
  return {
    status: 'UNSCANNABLE',
    reason: 'too-large',
    detail: `larger than MAX_FILE_SIZE (${size} bytes; the limit is ${maxFileSizeBytes})`,
    signature: null,
  };
}

/** A stream of unknown size that ran past MAX_FILE_SIZE while it was being sent. */
export function streamTooLong(maxFileSizeBytes: number): ScanOutcome {
  return {
    status: 'UNSCANNABLE',
    reason: 'too-large',
    detail: `longer than MAX_FILE_SIZE (more than ${maxFileSizeBytes} bytes)`,
    signature: null,
  };
}

/**
 * Precedence: any ERROR makes it 2 (a target that could not be checked may be
 * anything), else anything INFECTED or UNSCANNABLE makes it 1, else 0. The same
 * order as clamdscan's.
 */
export function exitCode(reports: readonly TargetReport[]): 0 | 1 | 2 {
  if (reports.some((r) => r.outcome.status === 'ERROR')) return 2;
  if (reports.some((r) => r.outcome.status === 'INFECTED' || r.outcome.status === 'UNSCANNABLE')) return 1;
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
    case 'CLEAN':
      return `${name}: OK`;
    case 'INFECTED':
      return `${name}: ${outcome.signature} FOUND`;
    case 'UNSCANNABLE':
      return `${name}: ${controlsEscaped(outcome.detail)}${outcome.signature ? ` (${outcome.signature})` : ''} UNSCANNABLE`;
    case 'ERROR':
      return `${name}: ERROR ${controlsEscaped(outcome.detail)}`;
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
    status: outcome.status,
    signature: outcome.status === 'INFECTED' || outcome.status === 'UNSCANNABLE' ? outcome.signature : null,
    reason: outcome.status === 'UNSCANNABLE' ? outcome.reason : null,
    detail: outcome.status === 'UNSCANNABLE' || outcome.status === 'ERROR' ? outcome.detail : null,
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
