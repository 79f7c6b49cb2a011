import * as z from '../shared/zod.ts';
import type { ScanTarget } from '../events/record.ts';
import type { EngineInfo } from '../scan/reply.ts';
import {
  REPORT_REASONS,
  signatureOf,
  signatureOriginOf,
  detailOf,
  statusOf,
  type QuarantineStatus,
  type QuarantineVerdict,
  type ReportReason,
  type VerdictOf,
} from '../verdict/verdict.ts';
import type { TagResult } from './tags.ts';
import type { Notification } from '../aws/topic.ts';
import { SIGNATURE_ORIGINS, signatureOrigin, type SignatureOrigin } from '../verdict/signature.ts';

/** The source a file came from, as reports and result events name it. */
export interface SourceName {
  bucket: string;
  prefix: string;
}

export interface QuarantineReport {
  key: string;
  /** Null under the `any` key layout. */
  submissionGuid: string | null;
  filename: string;
  time: string;
  reason: ReportReason;
  status: QuarantineStatus;
  signature: string | null;
  /** Where the signature comes from: ClamAV itself, the deployment's custom signatures, or a third-party database (docs/detection.md). */
  signatureOrigin: SignatureOrigin | null;
  /** UNSCANNABLE: what clamd could not scan, e.g. "encrypted Zip content that clamd cannot open"; DISALLOWED_TYPE: which rule, and why. */
  detail?: string;
  /** DISALLOWED_TYPE only: the type its first bytes show (null: none a detector knows). */
  detectedType?: { ext: string; mime: string } | null;
  bucket: string;
  versionId: string | null;
  eTag: string | null;
  size: number;
  quarantine: { bucket: string; key: string; reportKey: string };
  scannedAt: string;
  engine: EngineInfo | null;
  /** Present when the file was found by `bucketscan rescan` rather than on upload. */
  origin?: 'rescan';
  /** The source (bucket and folder) the file was scanned for; absent in reports of older versions. */
  source?: SourceName;
}

const engineSchema = z.object({
  clamav: z.string(),
  databaseVersion: z.nullable(z.number()),
  databaseDate: z.nullable(z.string()),
  raw: z.string(),
});

/**
 * A report read back from the quarantine bucket (an earlier attempt's, to resume
 * its notification) is input like any other: it may be from an older version of
 * bucketscan, or edited by hand. Checked, not cast.
 */
const storedReportSchema = z.object({
  key: z.string(),
  submissionGuid: z.nullable(z.string()),
  filename: z.string(),
  time: z.string(),
  reason: z.enum(Object.values(REPORT_REASONS)),
  status: z.enum(Object.keys(REPORT_REASONS) as QuarantineStatus[]),
  signature: z.nullable(z.string()),
  // Absent from reports written before it existed.
  signatureOrigin: z.optional(z.nullable(z.enum(SIGNATURE_ORIGINS))),
  detail: z.optional(z.string()),
  detectedType: z.optional(z.nullable(z.object({ ext: z.string(), mime: z.string() }))),
  bucket: z.string(),
  versionId: z.nullable(z.string()),
  eTag: z.nullable(z.string()),
  size: z.number(),
  quarantine: z.object({ bucket: z.string(), key: z.string(), reportKey: z.string() }),
  scannedAt: z.string(),
  engine: z.nullable(engineSchema),
  origin: z.optional(z.literal('rescan')),
  source: z.optional(z.object({ bucket: z.string(), prefix: z.string() })),
});

/** The stored report, or undefined when it is not one this version can announce. */
export function parseStoredReport(stored: unknown): QuarantineReport | undefined {
  const parsed = storedReportSchema.safeParse(stored);
  if (!parsed.success) return undefined;
  const { signature, signatureOrigin: origin } = parsed.data;
  return { ...parsed.data, signatureOrigin: origin ?? (signature === null ? null : signatureOrigin(signature)) } as QuarantineReport;
}

export interface ReportInput {
  target: ScanTarget;
  verdict: QuarantineVerdict;
  object: { size: number; eTag: string | undefined; versionId: string | undefined };
  quarantine: { bucket: string; key: string; reportKey: string };
  scannedAt: Date;
  engine: EngineInfo | null;
  origin?: 'event' | 'rescan';
  source?: SourceName;
}

/** The one document that goes to the quarantine bucket and to the topic alike. */
export function buildReport(input: ReportInput): QuarantineReport {
  const { target, verdict } = input;
  const status = statusOf(verdict);
  return {
    key: target.key,
    submissionGuid: target.submissionGuid,
    filename: target.filename,
    time: target.eventTime,
    reason: REPORT_REASONS[status],
    status,
    signature: signatureOf(verdict),
    signatureOrigin: signatureOriginOf(verdict),
    ...(detailOf(verdict) === undefined ? {} : { detail: detailOf(verdict) }),
    ...(verdict.status === 'disallowed-type' ? { detectedType: verdict.detected } : {}),
    bucket: target.bucket,
    versionId: input.object.versionId ?? target.versionId ?? null,
    eTag: input.object.eTag ?? target.eTag ?? null,
    size: input.object.size,
    quarantine: input.quarantine,
    scannedAt: input.scannedAt.toISOString(),
    engine: input.engine,
    ...(input.origin === 'rescan' ? { origin: 'rescan' as const } : {}),
    ...(input.source ? { source: { bucket: input.source.bucket, prefix: input.source.prefix } } : {}),
  };
}

type StringAttribute = { DataType: 'String'; StringValue: string };

const attribute = (value: string): StringAttribute => ({ DataType: 'String', StringValue: value });

/**
 * SNS subjects must be ASCII without line breaks and under 100 characters, so the
 * filename (uploader-chosen, any script) stays in the message body only.
 */
export function buildNotification(report: QuarantineReport): Notification {
  const subject = `bucketscan: ${REPORT_REASONS[report.status]} in ${report.bucket}`.slice(0, 99);
  const attributes: Record<string, StringAttribute> = {
    status: attribute(report.status),
    bucket: attribute(report.bucket),
  };
  // SNS refuses empty attribute values; filters can test a missing signature with {"exists": false}.
  if (report.signature) attributes['signature'] = attribute(report.signature);
  if (report.signatureOrigin) attributes['signatureOrigin'] = attribute(report.signatureOrigin);
  return { subject, message: JSON.stringify(report), attributes };
}

export interface ForwardMessage {
  body: string;
  attributes: Record<string, StringAttribute>;
}

/**
 * Clean files travel on as the S3 event they arrived as, with the verdict beside it.
 * So do files clamd could not fully scan when UNSCANNABLE_ACTION is `forward`:
 * `status` then says UNSCANNABLE, `reason` what was not scanned, and `signature`
 * the heuristic clamd named (absent for the stream limit, which has none).
 */
export function buildForwardMessage(
  target: ScanTarget,
  scannedAt: Date,
  engine: EngineInfo | null,
  verdict: VerdictOf<'clean' | 'unscannable'>,
  tag?: TagResult,
): ForwardMessage {
  const attributes: Record<string, StringAttribute> = {
    status: attribute(statusOf(verdict)),
    scannedAt: attribute(scannedAt.toISOString()),
  };
  if (engine) attributes['engine'] = attribute(engine.raw);
  if (verdict.status === 'unscannable') {
    attributes['reason'] = attribute(verdict.detail);
    // SQS, like SNS, refuses empty attribute values.
    if (verdict.signature) attributes['signature'] = attribute(verdict.signature);
  }
  // A consumer that relies on the tag (the fail-closed bucket policy does) learns
  // here that this file has none, and why (README "Status tags").
  if (tag && !tag.written) attributes['statusTagProblem'] = attribute(tag.problem.slice(0, 256));
  return { body: JSON.stringify({ Records: [target.record] }), attributes };
}
