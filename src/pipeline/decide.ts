import type { ScanTarget } from '../events/record.ts';

/** What S3 said when the scanned version was opened. */
export type ObjectState =
  | { kind: 'gone' }
  | { kind: 'precondition-failed' }
  | { kind: 'found'; size: number; eTag: string | undefined; versionId: string | undefined };

export type QuarantineStatus = 'INFECTED' | 'TOO_LARGE';

export type PreScanDecision =
  | { action: 'drop'; reason: string }
  | { action: 'quarantine'; status: 'TOO_LARGE'; reason: 'file too large' }
  | { action: 'scan' };

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
  if (state.size > maxFileSizeBytes) return { action: 'quarantine', status: 'TOO_LARGE', reason: 'file too large' };
  return { action: 'scan' };
}

export type ScanResult = { status: 'clean' } | { status: 'infected'; signature: string };

export type PostScanDecision =
  | { action: 'forward' }
  | { action: 'quarantine'; status: 'INFECTED'; reason: 'virus detected'; signature: string };

export function decideAfterScan(result: ScanResult): PostScanDecision {
  return result.status === 'clean'
    ? { action: 'forward' }
    : { action: 'quarantine', status: 'INFECTED', reason: 'virus detected', signature: result.signature };
}

/** Where a quarantined file and its report go: the same key under the quarantine prefix. */
export function quarantineKeys(prefix: string, key: string): { object: string; report: string } {
  const object = `${prefix}${key}`;
  return { object, report: `${object}.report.json` };
}
