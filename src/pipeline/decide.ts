import { createHash } from 'node:crypto';
import type { ScanTarget } from '../events/record.ts';
import { type DetectedType, typeCovers, typeMismatch } from '../filetype/detect.ts';
import type { QuarantineVerdict, TypeRule, Verdict, VerdictOf } from '../verdict/verdict.ts';
import { MAX_KEY_BYTES } from '../events/key.ts';
import type { ObjectState } from '../aws/objects.ts';

/** What to do with a file clamd could not fully scan (UNSCANNABLE_ACTION). */
export const UNSCANNABLE_ACTIONS = ['quarantine', 'forward'] as const;
export type UnscannableAction = (typeof UNSCANNABLE_ACTIONS)[number];

/**
 * A source's rules for what may pass at all (docs/detection.md). A file refused
 * by them is never clean: TOO_LARGE over the size, DISALLOWED_TYPE for its type.
 */
export interface FileRules {
  /** Larger files are TOO_LARGE, never scanned; undefined: MAX_FILE_SIZE. At most MAX_FILE_SIZE (clamd's limits follow it). */
  maxFileSizeBytes?: number;
  /**
   * Only files whose first bytes show one of these types pass (file-type's
   * extensions, "unknown" for bytes no detector knows); undefined: any type.
   */
  allowTypes?: readonly string[];
  /** Files whose first bytes show one of these types are refused. */
  denyTypes?: readonly string[];
  /** UNSCANNABLE_ACTION for this source's files. */
  unscannableAction?: UnscannableAction;
}

export type PreScanDecision =
  | { action: 'drop'; reason: string }
  /** Judged by its size alone: never scanned. */
  | { action: 'judged'; verdict: VerdictOf<'too-large'> }
  | { action: 'scan' };

/**
 * MAX_FILE_SIZE: a file larger than this is never scanned. One rule for the worker
 * and `bucketscan scan`; undefined when the file may be scanned.
 */
export function tooLarge(size: number, maxFileSizeBytes: number): VerdictOf<'too-large'> | undefined {
  return size > maxFileSizeBytes ? { status: 'too-large', size, maxBytes: maxFileSizeBytes } : undefined;
}

/**
 * Before scanning: an object that is gone, or no longer the version the event
 * announced, has (or had) its own event, so this one has nothing left to do.
 */
export function decideBeforeScan(target: ScanTarget, state: ObjectState, maxFileSizeBytes: number): PreScanDecision {
  if (state.kind === 'gone') return { action: 'drop', reason: 'object no longer exists' };
  if (state.kind === 'precondition-failed') {
    return { action: 'drop', reason: 'object changed since the event (eTag no longer matches)' };
  }
  if (target.versionId && state.versionId && state.versionId !== target.versionId) {
    return { action: 'drop', reason: 'object changed since the event (versionId differs)' };
  }
  if (target.eTag && state.eTag && state.eTag !== target.eTag) {
    return { action: 'drop', reason: 'object changed since the event (eTag differs)' };
  }
  const judged = tooLarge(state.size, maxFileSizeBytes);
  return judged ? { action: 'judged', verdict: judged } : { action: 'scan' };
}

/**
 * A source's type rules on what a file's first bytes show (src/filetype/detect.ts):
 * a type on denyTypes, a name whose extension claims another type than its bytes
 * (an `invoice.pdf` that is a Windows executable), or a type not on allowTypes is
 * DISALLOWED_TYPE; undefined when the file may be scanned. Only for a source with
 * type rules: without any, every type is scanned as before.
 */
export function typeVerdict(
  filename: string,
  detected: DetectedType | undefined,
  rules: FileRules | undefined,
): VerdictOf<'disallowed-type'> | undefined {
  if (!hasTypeRules(rules)) return undefined;
  const refuse = (rule: TypeRule, claimed: string | null = null): VerdictOf<'disallowed-type'> => ({
    status: 'disallowed-type',
    rule,
    detected: detected ? { ext: detected.ext, mime: detected.mime } : null,
    claimed,
  });
  if (rules.denyTypes?.some((name) => typeCovers(name, detected, false))) return refuse('denied');
  const mismatch = typeMismatch(filename, detected);
  if (mismatch) return refuse('mismatch', mismatch.claimed);
  if (rules.allowTypes && !rules.allowTypes.some((name) => typeCovers(name, detected, true))) return refuse('not-allowed');
  return undefined;
}

/** Whether a source has type rules, so that its files' first bytes must be looked at. */
export function hasTypeRules(rules: FileRules | undefined): rules is FileRules {
  return rules?.allowTypes !== undefined || rules?.denyTypes !== undefined;
}

/** Where a verdict sends the file. */
export type Disposition =
  | { action: 'forward'; verdict: VerdictOf<'clean' | 'unscannable'> }
  | { action: 'quarantine'; verdict: QuarantineVerdict };

/**
 * Clean goes on, infected and too large are quarantined, and what clamd could not
 * fully scan is never passed as clean: it is quarantined like an infected file
 * or, when the deployment chose `forward`, sent on marked UNSCANNABLE for the next
 * stage to judge.
 */
export function dispose(verdict: Verdict, unscannableAction: UnscannableAction = 'quarantine'): Disposition {
  switch (verdict.status) {
    case 'clean':
      return { action: 'forward', verdict };
    case 'unscannable':
      return unscannableAction === 'forward' ? { action: 'forward', verdict } : { action: 'quarantine', verdict };
    default:
      return { action: 'quarantine', verdict };
  }
}

/** Where a quarantined file and its report go: the same key under the quarantine prefix. */
export function quarantineKeys(prefix: string, key: string): { object: string; report: string } {
  const object = `${prefix}${key}`;
  const report = `${object}.report.json`;
  if (Buffer.byteLength(report) <= MAX_KEY_BYTES) return { object, report };
  // S3 keys stop at 1024 bytes, and a long upload key plus the prefix and the
  // report suffix can pass that. Such files go under a digest of their key in the
  // same folder layout instead; the report still names the original key.
  const slash = key.lastIndexOf('/');
  const short = `${prefix}${key.slice(0, slash + 1)}sha256-${createHash('sha256').update(key).digest('hex')}`;
  return { object: short, report: `${short}.report.json` };
}
