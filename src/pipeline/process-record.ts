import type { Readable } from 'node:stream';
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { ScanTarget } from '../events/record.ts';
import type { EngineInfo, ScanVerdict } from '../scan/reply.ts';
import { getTags, openObject, putTags, type ObjectVersion } from '../aws/objects.ts';
import { isPermanentTaggingError } from '../aws/errors.ts';
import { errorMessage } from '../shared/errors.ts';
import type { OutgoingMessage } from '../aws/queue.ts';
import { finishInterruptedNotification, quarantine, type QuarantineDeps } from './quarantine.ts';
import { buildForwardMessage, buildNotification, buildReport, parseStoredReport } from './report.ts';
import { decideBeforeScan, dispose, quarantineKeys, type UnscannableAction } from './decide.ts';
import type { Origin } from '../aws/queue.ts';
import type { RecordFigures, RecordResult } from './outcome.ts';
import { withStatus, type TagResult } from './tags.ts';
import { statusOf, type StatusWord, type Verdict } from '../verdict/verdict.ts';

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

function storedNotification(stored: unknown) {
  const report = parseStoredReport(stored);
  return report && buildNotification(report);
}

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
  value: StatusWord,
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
): Promise<RecordResult> {
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
    return { action: 'dropped', reason: before.action === 'drop' ? before.reason : 'object no longer exists' };
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
  if (before.action === 'judged') {
    body.destroy();
    onScanned?.();
    verdict = before.verdict;
  } else {
    const scanStarted = performance.now();
    verdict = await deps.scanner.scan(body, signal);
    figures.scanMs = performance.now() - scanStarted;
    onScanned?.();
  }
  figures.verdictMs = performance.now() - started;
  const disposition = dispose(verdict, settings.unscannableAction ?? 'quarantine');

  if (disposition.action === 'forward') {
    // Tagged before the forward, so a consumer reading the file on the forwarded event already sees it.
    const tag = tagKey ? await writeStatusTag(deps, tagKey, scanned, statusOf(disposition.verdict), existingTags) : undefined;
    await deps.forward(buildForwardMessage(target, deps.now(), await deps.engine(), disposition.verdict, tag));
    return { action: 'forwarded', verdict: disposition.verdict, ...figures, ...(tag ? { tag } : {}) };
  }

  const quarantined = disposition.verdict;
  const status = statusOf(quarantined);
  // The quarantined copy carries its status among the source's own tags.
  let tag: TagResult | undefined;
  let copyTags: Tag[] | undefined;
  if (tagKey) {
    const merged = withStatus(await existingTags(), tagKey, status);
    tag = merged.ok ? { written: true, value: status } : { written: false, value: status, problem: merged.problem };
    if (merged.ok) copyTags = merged.tags;
  }
  const report = buildReport({
    target,
    verdict: quarantined,
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
  return { action: 'quarantined', verdict: quarantined, quarantineKey: keys.object, resumed, ...figures, ...(tag ? { tag } : {}) };
}
