import { createHash } from 'node:crypto';
import type { ScanTarget } from '../events/record.ts';
import type { QuarantineVerdict, Verdict, VerdictOf } from '../verdict/verdict.ts';
import { MAX_KEY_BYTES } from '../events/key.ts';
import type { ObjectState } from '../aws/objects.ts';

/** What to do with a file clamd could not fully scan (UNSCANNABLE_ACTION). */
export type UnscannableAction = 'quarantine' | 'forward';

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
