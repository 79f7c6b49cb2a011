/**
 * The result event of one verdict (RESULT_EVENT_BUS), modelled on GuardDuty
 * Malware Protection for S3's "GuardDuty Malware Protection Object Scan Result"
 * so that a consumer written for GuardDuty needs to change only its rule
 * (source and detail-type), with bucketscan's own fields beside GuardDuty's.
 * docs/result-events.md is the schema, with an example and every outcome's
 * mapping; the words come from src/verdict/verdict.ts.
 */
import type { ResultEvent } from '../aws/result-bus.ts';
import type { Origin } from '../aws/queue.ts';
import type { EngineInfo } from '../scan/reply.ts';
import {
  detailOf,
  guardDutyStatusOf,
  signatureOf,
  signatureOriginOf,
  statusOf,
  verdictStatusOf,
  type Verdict,
  type VerdictStatus,
} from '../verdict/verdict.ts';
import type { SignatureOrigin } from '../verdict/signature.ts';
import type { QuarantineReport, SourceName } from './report.ts';

export const RESULT_SOURCE = 'bucketscan';
export const RESULT_DETAIL_TYPE = 'Object Scan Result';

/** What a result event says, whichever way the file went. */
interface ResultFacts {
  status: VerdictStatus;
  signature: string | null;
  signatureOrigin: SignatureOrigin | null;
  /** UNSCANNABLE: what clamd could not scan; DISALLOWED_TYPE: which type rule refused it (detailOf). */
  detail?: string;
  bucket: string;
  key: string;
  eTag: string | null;
  versionId: string | null;
  size: number;
  quarantine: { bucket: string; key: string; reportKey: string } | null;
  engine: EngineInfo | null;
  origin: Origin;
  source: SourceName | null;
  scannedAt: Date;
}

function resultEvent(facts: ResultFacts): ResultEvent {
  const verdict = { status: facts.status };
  const guardDuty = guardDutyStatusOf(verdict);
  return {
    source: RESULT_SOURCE,
    detailType: RESULT_DETAIL_TYPE,
    time: facts.scannedAt,
    detail: {
      // GuardDuty's fields, with its spellings.
      schemaVersion: '1.0',
      scanStatus: guardDuty.scanStatus,
      resourceType: 'S3_OBJECT',
      s3ObjectDetails: { bucketName: facts.bucket, objectKey: facts.key, eTag: facts.eTag, versionId: facts.versionId },
      scanResultDetails: {
        scanResultStatus: guardDuty.scanResultStatus,
        threats: facts.status === 'infected' && facts.signature ? [{ name: facts.signature }] : null,
      },
      // bucketscan's own.
      outcome: facts.status,
      status: statusOf(verdict as Verdict),
      signature: facts.signature,
      signatureOrigin: facts.signatureOrigin,
      ...(facts.detail === undefined ? {} : { detail: facts.detail }),
      size: facts.size,
      quarantine: facts.quarantine,
      engine: facts.engine,
      origin: facts.origin,
      source: facts.source,
      scannedAt: facts.scannedAt.toISOString(),
    },
  };
}

/** The event of a file that went on (clean, or unscannable with UNSCANNABLE_ACTION=forward). */
export function forwardedResult(input: {
  verdict: Verdict;
  object: { bucket: string; key: string; eTag: string | undefined; versionId: string | undefined; size: number };
  source: SourceName;
  engine: EngineInfo | null;
  origin: Origin;
  scannedAt: Date;
}): ResultEvent {
  const { verdict, object } = input;
  return resultEvent({
    status: verdict.status,
    signature: signatureOf(verdict),
    signatureOrigin: signatureOriginOf(verdict),
    ...(detailOf(verdict) === undefined ? {} : { detail: detailOf(verdict) }),
    bucket: object.bucket,
    key: object.key,
    eTag: object.eTag ?? null,
    versionId: object.versionId ?? null,
    size: object.size,
    quarantine: null,
    engine: input.engine,
    origin: input.origin,
    source: { bucket: input.source.bucket, prefix: input.source.prefix },
    scannedAt: input.scannedAt,
  });
}

/** The event of a quarantined file, from its report (this attempt's, or the one an earlier attempt stored). */
export function quarantinedResult(report: QuarantineReport): ResultEvent {
  return resultEvent({
    status: verdictStatusOf(report.status),
    signature: report.signature,
    signatureOrigin: report.signatureOrigin,
    ...(report.detail === undefined ? {} : { detail: report.detail }),
    bucket: report.bucket,
    key: report.key,
    eTag: report.eTag,
    versionId: report.versionId,
    size: report.size,
    quarantine: report.quarantine,
    engine: report.engine,
    origin: report.origin ?? 'event',
    source: report.source ?? null,
    scannedAt: new Date(report.scannedAt),
  });
}
