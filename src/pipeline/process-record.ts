import type { Tag } from '@aws-sdk/client-s3';
import type { ScanTarget } from '../events/record.ts';
import type { ObjectVersion } from '../aws/objects.ts';
import { isPermanentTaggingError } from '../aws/errors.ts';
import type { Origin } from '../aws/queue.ts';
import { errorMessage } from '../shared/errors.ts';
import { detectType, sampleHead } from '../filetype/detect.ts';
import { tagValueOf, type TagValue, type Verdict } from '../verdict/verdict.ts';
import type { ObjectStore, PipelineDeps, PipelineSettings, Source } from './deps.ts';
import { finishInterruptedNotification, quarantine, type QuarantineDeps } from './quarantine.ts';
import { buildForwardMessage, buildNotification, buildReport, parseStoredReport } from './report.ts';
import { forwardedResult, quarantinedResult } from './result-event.ts';
import { decideBeforeScan, dispose, hasTypeRules, quarantineKeys, typeVerdict } from './decide.ts';
import type { RecordFigures, RecordResult } from './outcome.ts';
import { withStatus, type TagResult } from './tags.ts';
import { coveringRelease } from './release.ts';

/** What one record is processed with. */
export interface RecordContext {
  settings: PipelineSettings;
  /** The record's source (src/events/record.ts found it): its quarantine, forward target, topic and tag. */
  source: Source;
  deps: PipelineDeps;
  signal?: AbortSignal;
  /** Called once no more clamd time is needed: only network steps are left. */
  scanned?: () => void;
  /** 'rescan' is recorded in the quarantine report. Default 'event'. */
  origin?: Origin;
}

function storedNotification(stored: unknown) {
  const report = parseStoredReport(stored);
  return report && buildNotification(report);
}

/** The quarantine's I/O, with the source's own topic. */
function quarantineDeps(deps: PipelineDeps, source: Source): QuarantineDeps {
  return {
    objects: deps.objects,
    notifier: { publish: (notification) => deps.notifier.publish(notification, source.notificationTopicArn) },
  };
}

/**
 * The object's current tags, read only when it has any (GetObject reports the
 * count), started beside the scan so it costs no time. A failure is kept for
 * whoever needs the tags, so an unneeded read can never fail the record.
 */
function tagReader(objects: ObjectStore, version: ObjectVersion, tagCount: number, signal?: AbortSignal): () => Promise<Tag[]> {
  if (tagCount === 0) return async () => [];
  const reading = objects.getTags(version, signal).then(
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
  objects: ObjectStore,
  key: string,
  version: ObjectVersion,
  value: TagValue,
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
    await objects.putTags(version, merged.tags);
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
export async function processRecord(target: ScanTarget, context: RecordContext): Promise<RecordResult> {
  const { settings, deps, signal, source } = context;
  const style = settings.statusTagStyle ?? 'bucketscan';
  const origin = context.origin ?? 'event';
  const results = deps.results;
  const started = performance.now();
  const keys = quarantineKeys(source.quarantine.prefix, target.key);
  const opened = await deps.objects.open(target, signal);
  const before = decideBeforeScan(target, opened, source.rules?.maxFileSizeBytes ?? settings.maxFileSizeBytes);

  if (opened.kind !== 'found' || before.action === 'drop') {
    context.scanned?.();
    // An unread body pins a pooled socket; let it go before doing anything else.
    if (opened.kind === 'found') opened.body.destroy();
    // A quarantine that died between its report and its notification may have
    // been for this very version; make sure it was announced.
    await finishInterruptedNotification(
      quarantineDeps(deps, source),
      { bucket: source.quarantine.bucket, reportKey: keys.report },
      { bucket: target.bucket, key: target.key, versionId: target.versionId, eTag: target.eTag },
      storedNotification,
      results &&
        (async (stored) => {
          const report = parseStoredReport(stored);
          if (report) await results.publish(quarantinedResult(report));
        }),
    );
    return { action: 'dropped', reason: before.action === 'drop' ? before.reason : 'object no longer exists' };
  }

  const body = opened.body;
  const scanned: ObjectVersion = {
    bucket: target.bucket,
    key: target.key,
    versionId: opened.versionId ?? target.versionId,
    eTag: opened.eTag ?? target.eTag,
  };
  const tagKey = source.statusTag;
  // Read beside the scan when the version has tags: for the status tag, and for a release's marker.
  const tagsOf = tagReader(deps.objects, scanned, opened.tagCount, signal);
  const existingTags = tagKey ? tagsOf : async () => [];

  let verdict: Verdict;
  const figures: RecordFigures = { size: opened.size, verdictMs: 0 };
  if (before.action === 'judged') {
    body.destroy();
    context.scanned?.();
    verdict = before.verdict;
  } else {
    const scanStarted = performance.now();
    // With type rules, the first bytes are looked at before clamd sees the file, then streamed to it whole.
    const sampled = hasTypeRules(source.rules) ? await sampleHead(body) : undefined;
    const refused = sampled && typeVerdict(target.filename, await detectType(sampled.head), source.rules);
    if (refused) {
      body.destroy();
      verdict = refused;
    } else {
      verdict = await deps.scanner.scan(sampled ? sampled.body : body, signal);
    }
    figures.scanMs = performance.now() - scanStarted;
    context.scanned?.();
  }
  figures.verdictMs = performance.now() - started;
  // A file bucketscan release put back stays released while its scan finds nothing new (release.ts).
  const release =
    opened.tagCount > 0 ? await coveringRelease(deps.objects, source.quarantine, scanned, await tagsOf(), verdict) : undefined;
  if (release) return { action: 'released', verdict, release, ...figures };
  const disposition = dispose(verdict, source.rules?.unscannableAction ?? settings.unscannableAction);

  if (disposition.action === 'forward') {
    // Tagged before the forward, so a consumer reading the file on the forwarded event already sees it.
    const tag = tagKey
      ? await writeStatusTag(deps.objects, tagKey, scanned, tagValueOf(disposition.verdict, style), existingTags)
      : undefined;
    const scannedAt = deps.now();
    const engine = await deps.engine();
    const queue = source.validationQueue;
    // The forward and the result event go out together; the message is deleted only once both are accepted.
    await Promise.all([
      queue && deps.forwarder.forward(buildForwardMessage(target, scannedAt, engine, disposition.verdict, tag), queue),
      results?.publish(
        forwardedResult({
          verdict: disposition.verdict,
          object: { ...scanned, size: opened.size },
          source,
          engine,
          origin,
          scannedAt,
        }),
      ),
    ]);
    return {
      action: 'forwarded',
      verdict: disposition.verdict,
      ...(queue ? {} : { withoutQueue: true as const }),
      ...figures,
      ...(tag ? { tag } : {}),
    };
  }

  const quarantined = disposition.verdict;
  const status = tagValueOf(quarantined, style);
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
    quarantine: { bucket: source.quarantine.bucket, key: keys.object, reportKey: keys.report },
    scannedAt: deps.now(),
    engine: await deps.engine(),
    origin,
    source,
  });
  // Order matters: the file is deleted only once its copy, report and notification
  // exist; a redelivery after a crash picks up where this attempt stopped.
  const resumed = await quarantine(quarantineDeps(deps, source), {
    source: scanned,
    size: opened.size,
    attributes: opened.attributes,
    ...(copyTags ? { tags: copyTags } : {}),
    bucket: source.quarantine.bucket,
    multipartCopyThresholdBytes: settings.multipartCopyThresholdBytes,
    objectKey: keys.object,
    reportKey: keys.report,
    report,
    notification: buildNotification(report),
    storedNotification,
    ...(results ? { announce: () => results.publish(quarantinedResult(report)) } : {}),
  });
  return { action: 'quarantined', verdict: quarantined, quarantineKey: keys.object, resumed, ...figures, ...(tag ? { tag } : {}) };
}
