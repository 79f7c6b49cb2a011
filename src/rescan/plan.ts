/**
 * What rescan does with one listed object: queue an event for it, skip it (with
 * the worker's own reason), or leave it out as older than --since. Pure: the
 * listing and the queue are the command's business.
 */
import { checkRecord } from '../events/record.ts';
import type { ListedObject } from '../aws/listing.ts';
import { buildEventDocument, buildObjectCreatedRecord, writeEventName } from '../events/s3-event.ts';
import { unquoteETag } from '../events/text.ts';

export interface RescanRules {
  /** UNPROCESSED_BUCKET_NAME and UNPROCESSED_PREFIX: the worker's own rules. */
  bucket: string;
  prefix: string;
  /** The quarantine area when it shares the bucket (QUARANTINE_PREFIX); never rescanned. */
  quarantinePrefix?: string;
  since?: Date;
  /** awsRegion of the events: the bucket's region. */
  region: string;
}

/**
 * S3 puts the notification configuration's Id into every record; a rescan names
 * itself there, so the mark travels with the record even where the message
 * attribute does not (a forwarded record, a report).
 */
export const RESCAN_CONFIGURATION_ID = 'bucketscan-rescan';

export type Decision =
  | { kind: 'queue'; key: string; body: string }
  | { kind: 'skip'; key: string; reason: string }
  | { kind: 'older'; key: string };

export function decide(object: ListedObject, rules: RescanRules, sequencer: () => string): Decision {
  const { key } = object;
  if (rules.quarantinePrefix !== undefined && key.startsWith(rules.quarantinePrefix)) {
    return { kind: 'skip', key, reason: 'object is in the quarantine area (QUARANTINE_PREFIX): never rescanned' };
  }
  if (rules.since && object.lastModified.getTime() < rules.since.getTime()) return { kind: 'older', key };
  const eTag = unquoteETag(object.eTag) ?? '';
  const record = buildObjectCreatedRecord({
    bucket: rules.bucket,
    key,
    size: object.size,
    eTag,
    // S3 leaves versionId out of events for objects without a real version (the
    // "null" version of an unversioned or suspended bucket); a GET without one reads it.
    ...(object.versionId && object.versionId !== 'null' ? { versionId: object.versionId } : {}),
    eventName: writeEventName(eTag),
    region: rules.region,
    // When the object was written, as S3's own event would say: reports call it the
    // upload time.
    eventTime: object.lastModified,
    sequencer: sequencer(),
    configurationId: RESCAN_CONFIGURATION_ID,
    principalId: 'bucketscan-rescan',
  });
  // Exactly the worker's check on exactly the record it will receive.
  const check = checkRecord(record, { bucket: rules.bucket, prefix: rules.prefix });
  if (!check.ok) return { kind: 'skip', key, reason: check.reason };
  return { kind: 'queue', key, body: JSON.stringify(buildEventDocument([record])) };
}
