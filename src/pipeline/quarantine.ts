import type { Tag } from '@aws-sdk/client-s3';
import type { ObjectAttributes, ObjectVersion } from '../aws/objects.ts';
import type { Notification } from '../aws/topic.ts';
import type { ObjectStore, Notifier } from './deps.ts';

/**
 * The quarantine report doubles as the record of how far a quarantine got, in its
 * S3 user metadata: which source version it is for, and (once published) the SNS
 * message id. A worker that dies between any two steps leaves the message on the
 * queue; the redelivery reads this record and does only what is left, so no file
 * is left behind and no second report or notification is made.
 */
export const SOURCE_VERSION = 'source-version-id';
export const SOURCE_ETAG = 'source-etag';
export const NOTIFICATION_ID = 'notification-id';

export interface QuarantineDeps {
  objects: ObjectStore;
  notifier: Notifier;
}

export interface QuarantinePlan {
  source: ObjectVersion;
  size: number;
  attributes: ObjectAttributes | undefined;
  bucket: string;
  /** Sources above this many bytes are copied part by part. */
  multipartCopyThresholdBytes: number;
  objectKey: string;
  reportKey: string;
  report: unknown;
  /** The copy's tag set (its status among the source's tags); absent: S3 copies the source's. */
  tags?: Tag[];
  /** This attempt's notification. */
  notification: Notification;
  /** The notification for a report an earlier attempt stored; undefined when it cannot be read. */
  storedNotification(stored: unknown): Notification | undefined;
  /**
   * Publishes the result event (RESULT_EVENT_BUS), after the notification and
   * before the source version is deleted: a redelivery after a failure here finds
   * the version still there and publishes again.
   */
  announce?(): Promise<void>;
}

/** What a redelivery found already done. */
export type Resumed = 'nothing' | 'report' | 'notification';

function sourceMetadata(source: ObjectVersion): Record<string, string> {
  return {
    ...(source.versionId ? { [SOURCE_VERSION]: source.versionId } : {}),
    ...(source.eTag ? { [SOURCE_ETAG]: source.eTag } : {}),
  };
}

/** Whether a stored report's metadata says it describes this very version. */
export function reportIsFor(metadata: Record<string, string>, source: ObjectVersion): boolean {
  if (source.versionId) return metadata[SOURCE_VERSION] === source.versionId;
  // An event without a versionId (unversioned bucket, or an emulator leaving it out)
  // can only be matched by content.
  return source.eTag !== undefined && metadata[SOURCE_ETAG] === source.eTag;
}

async function notifyOnce(
  deps: QuarantineDeps,
  bucket: string,
  reportKey: string,
  metadata: Record<string, string>,
  notification: Notification,
) {
  const messageId = await deps.notifier.publish(notification);
  await deps.objects.replaceMetadata(bucket, reportKey, { ...metadata, [NOTIFICATION_ID]: messageId ?? 'published' }, 'application/json');
}

/**
 * Copy, report, notification, delete: each step is skipped when an earlier
 * attempt for the same source version already did it. The copy is redone when the
 * report is missing (copying the same version twice yields the same object); the
 * source is deleted last, only once everything else exists.
 */
export async function quarantine(deps: QuarantineDeps, plan: QuarantinePlan): Promise<Resumed> {
  const existing = await deps.objects.headMetadata(plan.bucket, plan.reportKey);
  const previous = existing && reportIsFor(existing, plan.source) ? existing : undefined;
  let resumed: Resumed = 'nothing';
  if (previous?.[NOTIFICATION_ID]) {
    resumed = 'notification';
  } else if (previous) {
    // The stored report is the one to announce: it is what the quarantine holds.
    // One that cannot be read (another version's, edited by hand) is replaced below.
    const stored = plan.storedNotification(await deps.objects.getJson(plan.bucket, plan.reportKey));
    if (stored) {
      resumed = 'report';
      await notifyOnce(deps, plan.bucket, plan.reportKey, previous, stored);
    }
  }
  if (resumed === 'nothing') {
    await deps.objects.copy(
      plan.source,
      { bucket: plan.bucket, key: plan.objectKey },
      {
        size: plan.size,
        attributes: plan.attributes,
        ...(plan.tags ? { tags: plan.tags } : {}),
        multipartThreshold: plan.multipartCopyThresholdBytes,
      },
    );
    const metadata = sourceMetadata(plan.source);
    await deps.objects.putJson(plan.bucket, plan.reportKey, plan.report, metadata);
    await notifyOnce(deps, plan.bucket, plan.reportKey, metadata, plan.notification);
  }
  await plan.announce?.();
  await deps.objects.deleteVersion(plan.source);
  return resumed;
}

/**
 * For an event whose object is gone or changed: if an earlier attempt quarantined
 * this version but died before announcing it, announce it now from the stored
 * report. Returns true when it did.
 */
export async function finishInterruptedNotification(
  deps: QuarantineDeps,
  location: { bucket: string; reportKey: string },
  source: ObjectVersion,
  storedNotification: (report: unknown) => Notification | undefined,
  /** Publishes the stored report's result event too (it comes after the notification). */
  announce?: (report: unknown) => Promise<void>,
): Promise<boolean> {
  const metadata = await deps.objects.headMetadata(location.bucket, location.reportKey);
  if (!metadata || !reportIsFor(metadata, source) || metadata[NOTIFICATION_ID]) return false;
  // A report that cannot be read cannot be announced; retrying would not change
  // that, so the record is dropped as it would be without one.
  const stored = await deps.objects.getJson(location.bucket, location.reportKey);
  const notification = storedNotification(stored);
  if (!notification) return false;
  await notifyOnce(deps, location.bucket, location.reportKey, metadata, notification);
  await announce?.(stored);
  return true;
}
