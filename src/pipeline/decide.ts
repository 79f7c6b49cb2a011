import { createHash } from 'node:crypto';
import type { ScanTarget } from '../events/record.ts';
import type { ScanVerdict } from '../scan/reply.ts';
import { MAX_KEY_BYTES } from '../events/key.ts';

/** What S3 said when the scanned version was opened. */
export type ObjectState =
  | { kind: 'gone' }
  | { kind: 'precondition-failed' }
  | { kind: 'found'; size: number; eTag: string | undefined; versionId: string | undefined };

export type QuarantineStatus = 'INFECTED' | 'TOO_LARGE' | 'UNSCANNABLE';

/** The report's `reason` for each status. */
export const REASONS = {
  INFECTED: 'virus detected',
  TOO_LARGE: 'file too large',
  UNSCANNABLE: 'file could not be fully scanned',
} as const satisfies Record<QuarantineStatus, string>;

/** The log line's `outcome` for each status. */
export const LOG_OUTCOMES = {
  INFECTED: 'infected',
  TOO_LARGE: 'too-large',
  UNSCANNABLE: 'unscannable',
} as const satisfies Record<QuarantineStatus, string>;

/** What to do with a file clamd could not fully scan (UNSCANNABLE_ACTION). */
export type UnscannableAction = 'quarantine' | 'forward';

export type PreScanDecision =
  | { action: 'drop'; reason: string }
  | { action: 'quarantine'; status: 'TOO_LARGE'; reason: typeof REASONS.TOO_LARGE }
  | { action: 'scan' };

/**
 * MAX_FILE_SIZE: a file larger than this is never scanned. One rule for the worker
 * (TOO_LARGE) and `bucketscan scan` (UNSCANNABLE, reason too-large).
 */
export function isTooLarge(size: number, maxFileSizeBytes: number): boolean {
  return size > maxFileSizeBytes;
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
  if (isTooLarge(state.size, maxFileSizeBytes)) return { action: 'quarantine', status: 'TOO_LARGE', reason: REASONS.TOO_LARGE };
  return { action: 'scan' };
}

/** An UNSCANNABLE verdict as it travels on: why, in words, and the heuristic clamd named if any. */
export interface UnscannableDecision {
  status: 'UNSCANNABLE';
  reason: typeof REASONS.UNSCANNABLE;
  detail: string;
  signature: string | null;
}

export type PostScanDecision =
  | { action: 'forward'; status: 'CLEAN' }
  | ({ action: 'forward' } & UnscannableDecision)
  | { action: 'quarantine'; status: 'INFECTED'; reason: typeof REASONS.INFECTED; signature: string }
  | ({ action: 'quarantine' } & UnscannableDecision);

/**
 * Clean goes on, infected is quarantined, and what clamd could not fully scan is
 * never passed as clean: it is quarantined like an infected file or, when the
 * deployment chose `forward`, sent on marked UNSCANNABLE for the next stage to judge.
 */
export function decideAfterScan(result: ScanVerdict, unscannableAction: UnscannableAction = 'quarantine'): PostScanDecision {
  switch (result.status) {
    case 'clean':
      return { action: 'forward', status: 'CLEAN' };
    case 'infected':
      return { action: 'quarantine', status: 'INFECTED', reason: REASONS.INFECTED, signature: result.signature };
    case 'unscannable':
      return {
        action: unscannableAction === 'forward' ? 'forward' : 'quarantine',
        status: 'UNSCANNABLE',
        reason: REASONS.UNSCANNABLE,
        detail: result.detail,
        signature: result.signature,
      };
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
