/**
 * What rescan does with one listed object: queue an event for it, skip it (with
 * the worker's own reason), or leave it out as older than --since. Pure: the
 * listing and the queue are the command's business.
 */
import { checkRecord, type RecordRules } from '../events/record.ts';
import type { ListedObject } from '../aws/listing.ts';
import { buildEventDocument, buildObjectCreatedRecord, writeEventName } from '../events/s3-event.ts';
import { unquoteETag } from '../events/text.ts';

/** The key rules of one source: its folder and key layout, and its name for the counts. */
export type KeyRules = Pick<RecordRules, 'prefix' | 'keyLayout'> & { source?: string };

export type SourceOf = (key: string) => { ok: true; rules: KeyRules } | { ok: false; reason: string };

export interface RescanRules extends KeyRules {
  /**
   * The bucket, and the rules of the one source the listing is in: the worker's own
   * rules (UNPROCESSED_BUCKET_NAME and UNPROCESSED_PREFIX, or a SOURCES_FILE entry).
   */
  bucket: string;
  /**
   * When the listed keys may belong to several sources of the bucket (an inventory
   * report): the rules of the source each key is in, or why the worker would find
   * none (src/config/sources.ts's findSource). Wins over prefix and keyLayout.
   */
  sourceOf?: SourceOf;
  /** Quarantine areas in this bucket (QUARANTINE_PREFIX, or sources' quarantinePrefix): never rescanned. */
  quarantinePrefixes?: readonly string[];
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
  | { kind: 'queue'; key: string; body: string; source: string | undefined }
  | { kind: 'skip'; key: string; reason: string }
  | { kind: 'older'; key: string };

export function decide(object: ListedObject, rules: RescanRules, sequencer: () => string): Decision {
  const { key } = object;
  if (object.problem !== undefined) return { kind: 'skip', key, reason: object.problem };
  if (rules.quarantinePrefixes?.some((prefix) => key.startsWith(prefix))) {
    return { kind: 'skip', key, reason: 'object is in a quarantine area: never rescanned' };
  }
  let keyRules: KeyRules = rules;
  if (rules.sourceOf) {
    const source = rules.sourceOf(key);
    if (!source.ok) return { kind: 'skip', key, reason: source.reason };
    keyRules = source.rules;
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
  const check = checkRecord(record, { bucket: rules.bucket, prefix: keyRules.prefix, keyLayout: keyRules.keyLayout ?? 'submission' });
  if (!check.ok) return { kind: 'skip', key, reason: check.reason };
  return { kind: 'queue', key, body: JSON.stringify(buildEventDocument([record])), source: keyRules.source };
}
