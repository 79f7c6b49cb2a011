import type { Readable } from 'node:stream';
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { ScanTarget } from '../events/record.ts';
import type { EngineInfo, ScanVerdict } from '../scan/reply.ts';
import { getTags, openObject, putTags, type ObjectVersion } from '../aws/objects.ts';
import { isPermanentTaggingError, errorMessage } from '../aws/errors.ts';
import type { OutgoingMessage } from '../aws/queue.ts';
import { finishInterruptedNotification, quarantine, type QuarantineDeps, type Resumed } from './quarantine.ts';
import { buildForwardMessage, buildNotification, buildReport, parseStoredReport } from './report.ts';
import {
  decideAfterScan,
  decideBeforeScan,
  quarantineKeys,
  type PostScanDecision,
  type PreScanDecision,
  type QuarantineStatus,
  type UnscannableAction,
} from './decide.ts';
import type { Origin } from './outcome.ts';
import { withStatus, type StatusValue, type TagResult } from './tags.ts';

export interface Scanner {
  /** Resolves only with a verdict; any failure to scan rejects (and is never clean). */
  scan(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ScanVerdict>;
}

export interface PipelineSettings {
  quarantineBucket: string;
  quarantinePrefix: string;
  maxFileSizeBytes: number;
  topicArn: string;
  multipartCopyThresholdBytes: number;
  /** UNSCANNABLE_ACTION. Default 'quarantine'. */
  unscannableAction?: UnscannableAction;
  /** SCAN_STATUS_TAG: the tag key written on scanned versions; undefined turns tagging off. */
  statusTag?: string | undefined;
}

export interface PipelineDeps {
  s3: S3Client;
  sns: SNSClient;
  scanner: Scanner;
  /** Sends to the validation queue (batched by the caller). */
  forward(message: OutgoingMessage): Promise<void>;
  /** clamd's VERSION, cached by the caller; null when it could not be read. */
  engine(): Promise<EngineInfo | null>;
  settings: PipelineSettings;
  now(): Date;
}

function quarantineDeps(deps: PipelineDeps): QuarantineDeps {
  return {
    s3: deps.s3,
    sns: deps.sns,
    topicArn: deps.settings.topicArn,
    multipartCopyThresholdBytes: deps.settings.multipartCopyThresholdBytes,
  };
}

/** What was measured of a record that reached clamd (or was judged by its size). */
export interface RecordFigures {
  /** The object's size as S3 reported it. */
  size: number;
  /** Time clamd spent on it, from the first byte sent to the verdict; absent when it was not scanned. */
  scanMs?: number;
  /**
   * From the start of the record to its verdict: the time it held a slot (the
   * network steps after the verdict run without one, see Worker).
   */
  verdictMs: number;
}

export type RecordOutcome =
  | ({
      outcome: 'forwarded';
      /** Set when the file went on marked UNSCANNABLE (UNSCANNABLE_ACTION=forward). */
      unscannable?: { detail: string; signature: string | null };
      tag?: TagResult;
    } & RecordFigures)
  | ({
      outcome: 'quarantined';
      status: QuarantineStatus;
      signature: string | null;
      quarantineKey: string;
      resumed: Resumed;
      /** Set for UNSCANNABLE: what clamd could not scan. */
      detail?: string;
      tag?: TagResult;
    } & RecordFigures)
  | { outcome: 'dropped'; reason: string };

function storedNotification(stored: unknown) {
  const report = parseStoredReport(stored);
  return report && buildNotification(report);
}

/** The decision that ends a record, before or after its scan. */
type Verdict = Exclude<PreScanDecision, { action: 'drop' } | { action: 'scan' }> | PostScanDecision;

/**
 * The object's current tags, read only when it has any (GetObject reports the
 * count), started beside the scan so it costs no time. A failure is kept for
 * whoever needs the tags, so an unneeded read can never fail the record.
 */
function tagReader(deps: PipelineDeps, version: ObjectVersion, tagCount: number, signal?: AbortSignal): () => Promise<Tag[]> {
  if (tagCount === 0) return async () => [];
  const reading = getTags(deps.s3, version, signal).then(
    (tags) => ({ tags }),
    (error: unknown) => ({ error }),
  );
  return async () => {
    const read = await reading;
    if ('error' in read) throw read.error;
    return read.tags;
  };
}

/**
 * Writes the status on the scanned version itself, keeping its other tags. A
 * failure that would repeat on every retry (see isPermanentTaggingError) is final:
 * the record goes on untagged (and so unreadable under the fail-closed bucket
 * policy), with the problem reported. Anything else throws: the message is retried.
 */
async function writeStatusTag(
  deps: PipelineDeps,
  key: string,
  version: ObjectVersion,
  value: StatusValue,
  existing: () => Promise<Tag[]>,
): Promise<TagResult> {
  if (!version.versionId) {
    // Without a version id a tag write lands on whatever the key holds by then,
    // possibly a newer, unscanned upload: never risk calling that CLEAN.
    return { written: false, value, problem: 'no version id (unversioned bucket): a tag cannot be pinned to the scanned version' };
  }
  const merged = withStatus(await existing(), key, value);
  if (!merged.ok) return { written: false, value, problem: merged.problem };
  try {
    await putTags(deps.s3, version, merged.tags);
    return { written: true, value };
  } catch (error) {
    if (isPermanentTaggingError(error)) return { written: false, value, problem: errorMessage(error) };
    throw error;
  }
}

/**
 * Carries one valid record to its final outcome. Anything that throws leaves the
 * outcome undecided: the caller keeps the message for a retry.
 */
export async function processRecord(
  target: ScanTarget,
  deps: PipelineDeps,
  signal?: AbortSignal,
  /** Called once no more clamd time is needed: only network steps are left. */
  onScanned?: () => void,
  /** 'rescan' is recorded in the quarantine report. */
  origin: Origin = 'event',
): Promise<RecordOutcome> {
  const { settings } = deps;
  const started = performance.now();
  const keys = quarantineKeys(settings.quarantinePrefix, target.key);
  const opened = await openObject(deps.s3, target, signal);
  const before = decideBeforeScan(target, opened, settings.maxFileSizeBytes);

  if (opened.kind !== 'found' || before.action === 'drop') {
    onScanned?.();
    // An unread body pins a pooled socket; let it go before doing anything else.
    if (opened.kind === 'found') opened.body.destroy();
    // A quarantine that died between its report and its notification may have
    // been for this very version; make sure it was announced.
    await finishInterruptedNotification(
      quarantineDeps(deps),
      { bucket: settings.quarantineBucket, reportKey: keys.report },
      { bucket: target.bucket, key: target.key, versionId: target.versionId, eTag: target.eTag },
      storedNotification,
    );
    return { outcome: 'dropped', reason: before.action === 'drop' ? before.reason : 'object no longer exists' };
  }

  const body: Readable = opened.body;
  const scanned: ObjectVersion = {
    bucket: target.bucket,
    key: target.key,
    versionId: opened.versionId ?? target.versionId,
    eTag: opened.eTag ?? target.eTag,
  };
  const tagKey = settings.statusTag;
  const existingTags = tagKey ? tagReader(deps, scanned, opened.tagCount, signal) : async () => [];

  let verdict: Verdict;
  const figures: RecordFigures = { size: opened.size, verdictMs: 0 };
  if (before.action === 'quarantine') {
    body.destroy();
    onScanned?.();
    verdict = before;
  } else {
    const scanStarted = performance.now();
    const result = await deps.scanner.scan(body, signal);
    figures.scanMs = performance.now() - scanStarted;
    onScanned?.();
    verdict = decideAfterScan(result, settings.unscannableAction ?? 'quarantine');
  }
  figures.verdictMs = performance.now() - started;

  if (verdict.action === 'forward') {
    const unscannable = verdict.status === 'UNSCANNABLE' ? { detail: verdict.detail, signature: verdict.signature } : undefined;
    // Tagged before the forward, so a consumer reading the file on the forwarded event already sees it.
    const tag = tagKey ? await writeStatusTag(deps, tagKey, scanned, verdict.status, existingTags) : undefined;
    await deps.forward(buildForwardMessage(target, deps.now(), await deps.engine(), unscannable, tag));
    return { outcome: 'forwarded', ...figures, ...(unscannable ? { unscannable } : {}), ...(tag ? { tag } : {}) };
  }

  const signature = verdict.status === 'TOO_LARGE' ? null : verdict.signature;
  const detail = verdict.status === 'UNSCANNABLE' ? verdict.detail : undefined;
  // The quarantined copy carries its status among the source's own tags.
  let tag: TagResult | undefined;
  let copyTags: Tag[] | undefined;
  if (tagKey) {
    const merged = withStatus(await existingTags(), tagKey, verdict.status);
    tag = merged.ok ? { written: true, value: verdict.status } : { written: false, value: verdict.status, problem: merged.problem };
    if (merged.ok) copyTags = merged.tags;
  }
  const report = buildReport({
    target,
    status: verdict.status,
    signature,
    ...(detail === undefined ? {} : { detail }),
    object: { size: opened.size, eTag: scanned.eTag, versionId: scanned.versionId },
    quarantine: { bucket: settings.quarantineBucket, key: keys.object, reportKey: keys.report },
    scannedAt: deps.now(),
    engine: await deps.engine(),
    origin,
  });
  // Order matters: the file is deleted only once its copy, report and notification
  // exist; a redelivery after a crash picks up where this attempt stopped.
  const resumed = await quarantine(quarantineDeps(deps), {
    source: scanned,
    size: opened.size,
    attributes: opened.attributes,
    ...(copyTags ? { tags: copyTags } : {}),
    bucket: settings.quarantineBucket,
    objectKey: keys.object,
    reportKey: keys.report,
    report,
    notification: buildNotification(report),
    storedNotification,
  });
  return {
    outcome: 'quarantined',
    status: verdict.status,
    signature,
    quarantineKey: keys.object,
    resumed,
    ...figures,
    ...(detail === undefined ? {} : { detail }),
    ...(tag ? { tag } : {}),
  };
}
