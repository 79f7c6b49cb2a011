/**
 * A release from quarantine (`bucketscan release`): the audit record it writes
 * beside the report, and the one rule by which the worker honours it. A released
 * file is back in its bucket tagged CLEAN, with a `bucketscan-released` tag naming
 * its audit record; its upload event reaches the worker like any other, and the
 * worker scans it again. The release stands when that scan gives the very verdict
 * the release overrode (or none at all), and only for the version the release
 * wrote: the record names it, and only the quarantine bucket's writers can write
 * a record. A different detection is a new finding and is quarantined as usual.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Tag } from '@aws-sdk/client-s3';
import * as z from '../shared/zod.ts';
import { MAX_KEY_BYTES } from '../events/key.ts';
import type { ObjectVersion } from '../aws/objects.ts';
import { SIGNATURE_ORIGINS } from '../verdict/signature.ts';
import { RELEASED_TAG, REPORT_REASONS, signatureOf, statusOf, type QuarantineStatus, type Verdict } from '../verdict/verdict.ts';
import { quarantineKeys } from './decide.ts';
import type { ObjectStore } from './deps.ts';

const RECORD_SUFFIX = /^\.release-(\d{8}T\d{6}\d{3}Z-[0-9a-f]{4})\.json$/;
const RELEASE_ID = /^\d{8}T\d{6}\d{3}Z-[0-9a-f]{4}$/;

/** A release's id: its time to the millisecond and four random hex digits, e.g. 20260601T101500123Z-3fa9 (a tag value). */
export function newReleaseId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(2).toString('hex')}`;
}

export function isReleaseId(text: string): boolean {
  return RELEASE_ID.test(text);
}

/**
 * Where a release's audit record goes: beside the quarantined file and its
 * report, as `<quarantined key>.release-<id>.json`. When that would pass S3's
 * 1024-byte key limit, under a digest of the key in the same folder, as the
 * report itself does (decide.ts quarantineKeys).
 */
export function releaseRecordKey(quarantineKey: string, id: string): string {
  const key = `${quarantineKey}.release-${id}.json`;
  if (Buffer.byteLength(key) <= MAX_KEY_BYTES) return key;
  const slash = quarantineKey.lastIndexOf('/');
  return `${quarantineKey.slice(0, slash + 1)}sha256-${createHash('sha256').update(quarantineKey).digest('hex')}.release-${id}.json`;
}

/** The start every release record of a quarantined file's key shares (for listing them). */
export function releaseRecordPrefix(quarantineKey: string): string {
  const sample = '00000000T000000000Z-0000';
  return releaseRecordKey(quarantineKey, sample).slice(0, -`${sample}.json`.length);
}

/** The quarantined key and release id of a release record's key, when it is one. */
export function parseReleaseRecordKey(key: string): { quarantineKey: string; id: string } | undefined {
  const at = key.lastIndexOf('.release-');
  if (at === -1) return undefined;
  const match = RECORD_SUFFIX.exec(key.slice(at));
  return match ? { quarantineKey: key.slice(0, at), id: match[1]! } : undefined;
}

const versionSchema = z.object({ bucket: z.string(), key: z.string(), versionId: z.nullable(z.string()), eTag: z.nullable(z.string()) });

const recordSchema = z.object({
  format: z.literal('bucketscan-release'),
  id: z.string().check(z.regex(RELEASE_ID)),
  /** `started` is written before anything changes; `done` once the file is back and forwarded. */
  state: z.enum(['started', 'done']),
  releasedAt: z.string(),
  releasedBy: z.object({ arn: z.string(), account: z.string(), userId: z.string() }),
  reason: z.string().check(z.minLength(1)),
  force: z.boolean(),
  quarantine: z.object({ bucket: z.string(), key: z.string(), reportKey: z.string() }),
  /** The verdict the release overrides, as the report gave it. */
  overridden: z.object({
    status: z.enum(Object.keys(REPORT_REASONS) as [QuarantineStatus, ...QuarantineStatus[]]),
    signature: z.nullable(z.string()),
    signatureOrigin: z.nullable(z.enum(SIGNATURE_ORIGINS)),
    scannedAt: z.string(),
  }),
  /** Where the file went back to: the version the release wrote, once written. */
  restored: z.extend(versionSchema, { versionId: z.optional(z.nullable(z.string())), eTag: z.optional(z.nullable(z.string())) }),
  /** What the key held before, when --force restored over it. */
  replaced: z.optional(z.object({ versionId: z.nullable(z.string()), eTag: z.nullable(z.string()), lastModified: z.nullable(z.string()) })),
  forwarded: z.optional(z.object({ queueUrl: z.string(), messageId: z.nullable(z.string()) })),
});

export type ReleaseRecord = z.infer<typeof recordSchema>;

/** A stored release record, checked; undefined when it is not one. */
export function parseReleaseRecord(document: unknown): ReleaseRecord | undefined {
  const parsed = recordSchema.safeParse(document);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Whether a finished release covers this scan of this version: the version is
 * the one the release wrote (by VersionId, or by ETag in an unversioned bucket),
 * and the verdict is clean or exactly the one overridden (status and signature).
 */
export function releaseCovers(record: ReleaseRecord, scanned: ObjectVersion, verdict: Verdict): boolean {
  if (record.state !== 'done') return false;
  const { restored } = record;
  if (restored.bucket !== scanned.bucket || restored.key !== scanned.key) return false;
  const sameVersion = restored.versionId
    ? restored.versionId === scanned.versionId
    : Boolean(restored.eTag) && restored.eTag === scanned.eTag;
  if (!sameVersion) return false;
  if (verdict.status === 'clean') return true;
  return statusOf(verdict) === record.overridden.status && signatureOf(verdict) === record.overridden.signature;
}

/** A release that has begun but not finished: the record does not name the version yet. Retried with the message. */
export class ReleaseInProgress extends Error {
  constructor(recordKey: string) {
    super(`the release recorded in ${recordKey} has not finished yet (state "started"): trying again later`);
    this.name = 'ReleaseInProgress';
  }
}

/**
 * The worker's side of a release: when the scanned version carries a
 * `bucketscan-released` tag, its audit record (beside the quarantined copy in the
 * source's quarantine area) is read, and the release id is returned when it
 * covers this scan (releaseCovers). A tag without a record, or with one for
 * another version or verdict, covers nothing: the file is judged as any other.
 */
export async function coveringRelease(
  objects: ObjectStore,
  quarantine: { bucket: string; prefix: string },
  scanned: ObjectVersion,
  tags: readonly Tag[],
  verdict: Verdict,
): Promise<string | undefined> {
  const id = tags.find((tag) => tag.Key === RELEASED_TAG)?.Value;
  if (!id || !isReleaseId(id)) return undefined;
  const recordKey = releaseRecordKey(quarantineKeys(quarantine.prefix, scanned.key).object, id);
  if (!(await objects.headMetadata(quarantine.bucket, recordKey))) return undefined;
  const record = parseReleaseRecord(await objects.getJson(quarantine.bucket, recordKey).catch(() => undefined));
  if (!record || record.id !== id) return undefined;
  if (record.state === 'started') throw new ReleaseInProgress(`s3://${quarantine.bucket}/${recordKey}`);
  return releaseCovers(record, scanned, verdict) ? id : undefined;
}
