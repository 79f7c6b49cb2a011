import * as z from '../shared/zod.ts';
import { checkKeyText, decodeEventKey, parseKeyLayout, type KeyLayout } from './key.ts';
import { quoteValue, unquoteETag, utf8Bytes } from './text.ts';

/** A validated ObjectCreated record: the one object a worker should scan. */
export interface ScanTarget {
  bucket: string;
  /** The decoded key, as S3 APIs expect it. */
  key: string;
  /** The key's submission folder; null under the `any` key layout. */
  submissionGuid: string | null;
  filename: string;
  size: number | undefined;
  /** Without quotes; multipart ETags keep their `-N` suffix. */
  eTag: string | undefined;
  versionId: string | undefined;
  eventName: string;
  eventTime: string;
  /**
   * The S3 event record to forward: the record exactly as received, or for an
   * EventBridge event the S3 record it stands for (src/events/eventbridge.ts).
   */
  record: unknown;
}

/**
 * The rules a record is checked against: one source's bucket, folder and key
 * layout (the pipeline's Source has these and more).
 */
export interface RecordRules {
  bucket: string;
  /** Only keys under it are accepted ("" for the whole bucket). */
  prefix: string;
  /** Default `submission`. */
  keyLayout?: KeyLayout;
}

/** A record to scan and the source it belongs to, or why it is refused (with the bucket and key as far as they were read). */
export type RecordCheck<R extends RecordRules = RecordRules> =
  | { ok: true; target: ScanTarget; source: R }
  | { ok: false; reason: string; bucket?: string; key?: string };

/** A required string field: says whether it is missing or of the wrong type. */
export const requiredString = (name: string, what = 'record') =>
  z.string({ error: (issue) => (issue.input === undefined ? `${what} has no ${name}` : `${what} ${name} is not a string`) });

/** A required object section, with the same distinction. */
export const section = <T extends z.core.$ZodShape>(name: string, shape: T, what = 'record') =>
  z.object(shape, { error: (issue) => (issue.input === undefined ? `${what} has no ${name}` : `${what} ${name} is not an object`) });

// null and "" mean absent (relays and hand-written events send both).
export const optionalString = (name: string) =>
  z.pipe(
    z.optional(z.union([z.string(), z.null()], { error: `object ${name} is not a string` })),
    z.transform((value: string | null | undefined) => (value ? value : undefined)),
  );

// S3 sends a number; some relays (and hand-written test events) send a string.
export const size = z.pipe(
  z.optional(z.union([z.number(), z.string(), z.null()], { error: 'object size is not a non-negative integer' })),
  z.transform((value: number | string | null | undefined, ctx) => {
    if (value === undefined || value === null || value === '') return undefined;
    const parsed = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 0) return z.reject(ctx, 'object size is not a non-negative integer');
    return parsed;
  }),
);

const recordSchema = z.object({
  eventVersion: requiredString('eventVersion').check(z.regex(/^2\./, 'record eventVersion is not 2.x')),
  // Absent in some relays' copies; when present it must say the record came from S3.
  eventSource: z.optional(z.literal('aws:s3', { error: 'record eventSource is not "aws:s3"' })),
  eventName: requiredString('eventName'),
  eventTime: requiredString('eventTime'),
  s3: section('"s3" section', {
    bucket: section('s3.bucket', { name: requiredString('bucket name').check(z.minLength(1, 'record bucket name is empty')) }),
    object: section('s3.object', {
      key: requiredString('object key').check(z.minLength(1, 'record object key is empty')),
      size,
      eTag: optionalString('eTag'),
      versionId: optionalString('versionId'),
    }),
  }),
});

/**
 * Real records are a few levels deep. A deeper one cannot be forwarded
 * (JSON.stringify recurses and runs out of stack long before JSON.parse does),
 * so it would fail on every receive; it is refused up front instead.
 */
export const MAX_RECORD_DEPTH = 32;

/** Whether `value` nests deeper than `limit`, found without recursion. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Objects only, with their depths alongside: a record's scalars (most of it)
  // are never pushed, so checking one allocates next to nothing.
  const pending: object[] = [value];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(current)) {
      if (typeof child === 'object' && child !== null) {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * VersionIds and eTags end up in request URLs and If-Match headers. S3's are
 * short printable ASCII; anything else would make every GET fail before it is
 * sent (a header with a control character) or be refused by S3 (400), and the
 * message would be retried until it reached the dead-letter queue.
 */
const MAX_TOKEN_BYTES = 1024;
const ETAG = /^[\x21\x23-\x7e]+$/; // printable ASCII without `"`
const VERSION_ID = /^[\x21-\x7e]+$/;

function checkToken(name: string, value: string | undefined, pattern: RegExp): string | undefined {
  if (value === undefined) return undefined;
  if (utf8Bytes(value) > MAX_TOKEN_BYTES) return `object ${name} is longer than ${MAX_TOKEN_BYTES} bytes`;
  if (!pattern.test(value)) return `object ${name} ${quoteValue(value, 64)} is not printable ASCII`;
  return undefined;
}

/** The source a record belongs to, or why none does. */
export type SourceMatch<R extends RecordRules> = { ok: true; source: R } | { ok: false; reason: string };

/**
 * Finds the source of `bucket`/`key` (decoded). Sources' areas never overlap
 * (src/config/sources.ts checks that), so at most one matches. A bucket no source
 * names is not ours; a key outside every folder of a known bucket is outside the
 * scanned area.
 */
export function findSource<R extends RecordRules>(sources: readonly R[], bucketName: string, key: string): SourceMatch<R> {
  const folders: string[] = [];
  for (const source of sources) {
    if (source.bucket !== bucketName) continue;
    if (key.startsWith(source.prefix)) return { ok: true, source };
    folders.push(`"${source.prefix}"`);
  }
  if (folders.length === 0) {
    // One source is the single unprocessed bucket of the original design, and keeps its wording.
    const what = sources.length === 1 ? 'the unprocessed bucket' : 'a scanned bucket (no source names it)';
    return { ok: false, reason: `bucket ${quoteValue(bucketName)} is not ${what}` };
  }
  return {
    ok: false,
    reason:
      folders.length === 1
        ? `object key is outside the unprocessed prefix ${folders[0]}`
        : `object key is outside every scanned prefix of its bucket (${folders.join(', ')})`,
  };
}

/** What every shape of event says about its object, as read from it. */
export interface ObjectFields {
  bucket: string;
  size: number | undefined;
  eTag: string | undefined;
  versionId: string | undefined;
}

/**
 * The checks every shape of event shares, after its own: the bucket (and so the
 * source), the key's text and layout, then the eTag and versionId. `eventName`
 * is `ObjectCreated:*`, checked by the caller; `record` is what a clean file's
 * event is forwarded as.
 */
export function checkObject<R extends RecordRules>(
  fields: ObjectFields & { key: string; eventName: string; eventTime: string; record: () => unknown },
  rules: R | readonly R[],
): RecordCheck<R> {
  const { bucket, key } = fields;
  const match = findSource(Array.isArray(rules) ? (rules as readonly R[]) : [rules as R], bucket, key);
  if (!match.ok) return { ok: false, reason: match.reason, bucket, key };
  const { source } = match;
  const layout = source.keyLayout ?? 'submission';
  const text = checkKeyText(key, layout);
  if (!text.ok) return { ok: false, reason: text.reason, bucket, key };
  const parts = parseKeyLayout(key, source.prefix, layout);
  if (!parts.ok) return { ok: false, reason: parts.reason, bucket, key };
  const eTag = unquoteETag(fields.eTag);
  const { versionId } = fields;
  const token = checkToken('eTag', eTag, ETAG) ?? checkToken('versionId', versionId, VERSION_ID);
  if (token) return { ok: false, reason: token, bucket, key };
  return {
    ok: true,
    source,
    target: {
      bucket,
      key,
      submissionGuid: parts.value.submissionGuid,
      filename: parts.value.filename,
      size: fields.size,
      eTag,
      versionId,
      eventName: fields.eventName,
      eventTime: fields.eventTime,
      record: fields.record(),
    },
  };
}

/**
 * Decides whether one S3 event record names an object a source scans, and if
 * not, says why. `rules` is one source (the single-bucket settings) or all of them.
 */
export function checkRecord<R extends RecordRules>(record: unknown, rules: R | readonly R[]): RecordCheck<R> {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { ok: false, reason: 'record is not a JSON object' };
  }
  if (nestsDeeperThan(record, MAX_RECORD_DEPTH)) {
    return { ok: false, reason: `record is nested more than ${MAX_RECORD_DEPTH} levels deep` };
  }
  const parsed = recordSchema.safeParse(record);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues[0]?.message ?? 'record has the wrong shape' };
  const r = parsed.data;
  const bucket = r.s3.bucket.name;
  const decoded = decodeEventKey(r.s3.object.key);
  if (!decoded.ok) return { ok: false, reason: decoded.reason, bucket };
  const key = decoded.key;

  const eventName = r.eventName.replace(/^s3:/, '');
  if (!eventName.startsWith('ObjectCreated:')) {
    return { ok: false, reason: `event ${quoteValue(eventName)} is not an object creation`, bucket, key };
  }
  return checkObject(
    {
      bucket,
      key,
      size: r.s3.object.size,
      eTag: r.s3.object.eTag,
      versionId: r.s3.object.versionId,
      eventName,
      eventTime: r.eventTime,
      record: () => record,
    },
    rules,
  );
}
