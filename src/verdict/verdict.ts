/**
 * The verdict on one file, one type from clamd's reply to the outcome event,
 * and the one place that spells it for the outside world: the log line's
 * `outcome` and the metric label, the status word of the tag, the quarantine
 * report and the message attributes, the report's `reason`, the status column
 * of `bucketscan scan`, and GuardDuty's words in result events and in the
 * GuardDuty-style tag. Those spellings are a contract with downstream consumers
 * (docs/behaviour.md, docs/result-events.md): change them only on purpose.
 */

import { signatureOrigin, type SignatureOrigin } from './signature.ts';

/**
 * Why clamd could not inspect all of a file: a scan limit (reported as
 * Heuristics.Limits.Exceeded.<limit> with AlertExceedsMax), encrypted content it
 * cannot open (Heuristics.Encrypted.<format> with the AlertEncrypted* options), or
 * a stream longer than its StreamMaxLength ("INSTREAM size limit exceeded").
 */
export type UnscannableReason = 'limit-exceeded' | 'encrypted' | 'stream-limit';

export type Verdict =
  /** clamd answered exactly "OK": the only way a file is ever called clean. */
  | { status: 'clean' }
  | { status: 'infected'; signature: string }
  /** clamd could not fully scan it; `detail` says what in words, `signature` names the heuristic (null for the stream limit). */
  | { status: 'unscannable'; reason: UnscannableReason; detail: string; signature: string | null }
  /**
   * Larger than MAX_FILE_SIZE: never scanned. `size` is what S3 (or the file
   * system) reported, undefined for a stream that ran past the limit while it was
   * being sent.
   */
  | { status: 'too-large'; size: number | undefined; maxBytes: number }
  /**
   * Refused by its source's type rules (allowTypes, denyTypes) on the type its
   * first bytes show: never scanned, never clean. `detected` is that type (null:
   * no detector knew the bytes); `claimed` the extension of its name when it names
   * a detectable type the bytes are not (a mismatch).
   */
  | { status: 'disallowed-type'; rule: TypeRule; detected: { ext: string; mime: string } | null; claimed: string | null };

/** Which type rule refused a file: on denyTypes, not on allowTypes, or its name and bytes disagree. */
export type TypeRule = 'denied' | 'not-allowed' | 'mismatch';

export type VerdictStatus = Verdict['status'];
export type VerdictOf<S extends VerdictStatus> = Extract<Verdict, { status: S }>;

/** The word of each verdict in tags, reports and message attributes. */
export type StatusWord = 'CLEAN' | 'INFECTED' | 'TOO_LARGE' | 'UNSCANNABLE' | 'DISALLOWED_TYPE';

/**
 * GuardDuty Malware Protection for S3's scan result status: the value of its
 * GuardDutyMalwareScanStatus tag and `scanResultDetails.scanResultStatus` of its
 * result event. bucketscan never gives ACCESS_DENIED or FAILED: a file it could
 * not read or scan is retried (and dead-lettered), not judged.
 */
export type GuardDutyResultStatus = 'NO_THREATS_FOUND' | 'THREATS_FOUND' | 'UNSUPPORTED' | 'ACCESS_DENIED' | 'FAILED';

/** GuardDuty's `scanStatus`, which each result status belongs to. */
export type GuardDutyScanStatus = 'COMPLETED' | 'SKIPPED' | 'FAILED';

/** Every spelling of every verdict. */
const SPELLINGS = {
  clean: {
    status: 'CLEAN',
    reason: undefined,
    scanStatus: 'CLEAN',
    guardDuty: { scanStatus: 'COMPLETED', scanResultStatus: 'NO_THREATS_FOUND' },
  },
  infected: {
    status: 'INFECTED',
    reason: 'virus detected',
    scanStatus: 'INFECTED',
    guardDuty: { scanStatus: 'COMPLETED', scanResultStatus: 'THREATS_FOUND' },
  },
  // GuardDuty skips what is past its quotas, and what it cannot open (password-protected files), as UNSUPPORTED.
  'too-large': {
    status: 'TOO_LARGE',
    reason: 'file too large',
    scanStatus: 'UNSCANNABLE',
    guardDuty: { scanStatus: 'SKIPPED', scanResultStatus: 'UNSUPPORTED' },
  },
  unscannable: {
    status: 'UNSCANNABLE',
    reason: 'file could not be fully scanned',
    scanStatus: 'UNSCANNABLE',
    guardDuty: { scanStatus: 'SKIPPED', scanResultStatus: 'UNSUPPORTED' },
  },
  // GuardDuty skips file types it does not scan as UNSUPPORTED too: the closest word it has.
  'disallowed-type': {
    status: 'DISALLOWED_TYPE',
    reason: 'file type not allowed',
    scanStatus: 'UNSCANNABLE',
    guardDuty: { scanStatus: 'SKIPPED', scanResultStatus: 'UNSUPPORTED' },
  },
} as const satisfies Record<
  VerdictStatus,
  {
    status: StatusWord;
    reason: string | undefined;
    scanStatus: string;
    guardDuty: { scanStatus: GuardDutyScanStatus; scanResultStatus: GuardDutyResultStatus };
  }
>;

/** The verdicts in the order the metrics list them. */
export const VERDICT_STATUSES = [
  'clean',
  'infected',
  'too-large',
  'unscannable',
  'disallowed-type',
] as const satisfies readonly VerdictStatus[];

/** The log line's `outcome` and the `outcome` label of bucketscan_records_total. */
export function outcomeOf(verdict: Verdict): VerdictStatus {
  return verdict.status;
}

/** The status tag's value, the report's `status`, and the `status` attribute of forwarded and published messages. */
export function statusOf<V extends Verdict>(verdict: V): (typeof SPELLINGS)[V['status']]['status'] {
  return SPELLINGS[verdict.status as V['status']].status;
}

/** A verdict that sends the file to quarantine: never clean. */
export type QuarantineVerdict = Exclude<Verdict, { status: 'clean' }>;
/** The status words of the quarantine report. */
export type QuarantineStatus = (typeof SPELLINGS)[QuarantineVerdict['status']]['status'];

/** The quarantine report's `reason` (and the SNS subject's words) for each report status. */
export const REPORT_REASONS = {
  INFECTED: SPELLINGS.infected.reason,
  TOO_LARGE: SPELLINGS['too-large'].reason,
  UNSCANNABLE: SPELLINGS.unscannable.reason,
  DISALLOWED_TYPE: SPELLINGS['disallowed-type'].reason,
} as const satisfies Record<QuarantineStatus, string>;
export type ReportReason = (typeof REPORT_REASONS)[QuarantineStatus];

/** The status word that opens a file for reading under the fail-closed bucket policy. */
export const CLEAN_STATUS = SPELLINGS.clean.status;

/** `bucketscan scan`'s status column: a file refused for its size is UNSCANNABLE there, with the reason `too-large`. */
export function scanStatusOf(verdict: Verdict): (typeof SPELLINGS)[VerdictStatus]['scanStatus'] {
  return SPELLINGS[verdict.status].scanStatus;
}

/** The words of each type rule in a report's `detail`. */
const TYPE_RULE_WORDS = {
  denied: "is on this source's denyTypes",
  'not-allowed': "is not on this source's allowTypes",
  mismatch: 'does not match the extension of its name',
} as const satisfies Record<TypeRule, string>;

/**
 * The report's and the result event's `detail`: what clamd could not scan, or
 * which type rule refused a file and what its bytes are; undefined for the others.
 */
export function detailOf(verdict: Verdict): string | undefined {
  if (verdict.status === 'unscannable') return verdict.detail;
  if (verdict.status !== 'disallowed-type') return undefined;
  const type = verdict.detected ? `${verdict.detected.ext} (${verdict.detected.mime})` : 'of no type a detector knows';
  const named = verdict.claimed ? `, named .${verdict.claimed},` : '';
  return `the file${named} is ${type}, which ${verdict.rule === 'mismatch' ? TYPE_RULE_WORDS.mismatch : TYPE_RULE_WORDS[verdict.rule]}`;
}

/** The signature clamd named, null where there is none (clean, too large, the stream limit). */
export function signatureOf(verdict: Verdict): string | null {
  return verdict.status === 'infected' || verdict.status === 'unscannable' ? verdict.signature : null;
}

/**
 * Where that signature comes from (signature.ts): `clamav`, `custom` or
 * `third-party`; null where there is no signature. The report's and the scan
 * output's `signatureOrigin`, and the notification's attribute.
 */
export function signatureOriginOf(verdict: Verdict): SignatureOrigin | null {
  const signature = signatureOf(verdict);
  return signature === null ? null : signatureOrigin(signature);
}

/**
 * The status tag's key unless SCAN_STATUS_TAG (or `bucketscan policy --tag-key`)
 * names another.
 */
export const DEFAULT_STATUS_TAG = 'bucketscan-status';

/**
 * The tag a file released from quarantine (`bucketscan release`) carries beside
 * its CLEAN status; its value is the release's id, which names the audit record
 * beside the report (src/pipeline/release.ts).
 */
export const RELEASED_TAG = 'bucketscan-released';

/** GuardDuty's tag key, the default with STATUS_TAG_STYLE=guardduty. */
export const GUARDDUTY_STATUS_TAG = 'GuardDutyMalwareScanStatus';

/**
 * STATUS_TAG_STYLE: the status tag in bucketscan's words (CLEAN, INFECTED, …) or
 * in GuardDuty's (NO_THREATS_FOUND, THREATS_FOUND, UNSUPPORTED), so that bucket
 * policies written for GuardDuty keep working.
 */
export const STATUS_TAG_STYLES = ['bucketscan', 'guardduty'] as const;
export type StatusTagStyle = (typeof STATUS_TAG_STYLES)[number];

/** What a status tag may say, in either style. */
export type TagValue = StatusWord | GuardDutyResultStatus;

/** The tag key a style uses unless SCAN_STATUS_TAG names another. */
export function defaultStatusTag(style: StatusTagStyle): string {
  return style === 'guardduty' ? GUARDDUTY_STATUS_TAG : DEFAULT_STATUS_TAG;
}

/** The status tag's value for a verdict, in the style asked for. */
export function tagValueOf(verdict: Verdict, style: StatusTagStyle = 'bucketscan'): TagValue {
  return style === 'guardduty' ? SPELLINGS[verdict.status].guardDuty.scanResultStatus : SPELLINGS[verdict.status].status;
}

/** The tag value that opens a file for reading under a fail-closed bucket policy, in each style. */
export function cleanTagValue(style: StatusTagStyle = 'bucketscan'): TagValue {
  return tagValueOf({ status: 'clean' }, style);
}

/** GuardDuty's `scanStatus` and `scanResultStatus` for a verdict (result events). */
export function guardDutyStatusOf(verdict: Pick<Verdict, 'status'>): {
  scanStatus: GuardDutyScanStatus;
  scanResultStatus: GuardDutyResultStatus;
} {
  return SPELLINGS[verdict.status].guardDuty;
}

/** The verdict a status word (a stored report's `status`) stands for. */
export function verdictStatusOf(word: StatusWord): VerdictStatus {
  const found = VERDICT_STATUSES.find((status) => SPELLINGS[status].status === word);
  if (!found) throw new Error(`no verdict is spelled ${word}`);
  return found;
}
