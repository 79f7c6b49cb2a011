import { z } from 'zod';
import { checkKeyText, decodeEventKey, parseSubmissionKey } from './key.ts';
import { quoteValue, unquoteETag, utf8Bytes } from './text.ts';

/** A validated ObjectCreated record: the one object a worker should scan. */
export interface ScanTarget {
  bucket: string;
  /** The decoded key, as S3 APIs expect it. */
  key: string;
  submissionGuid: string;
  filename: string;
  size: number | undefined;
  /** Without quotes; multipart ETags keep their `-N` suffix. */
  eTag: string | undefined;
  versionId: string | undefined;
  eventName: string;
  eventTime: string;
  /** The record exactly as received, for forwarding. */
  record: unknown;
}

export type RecordCheck = { ok: true; target: ScanTarget } | { ok: false; reason: string; bucket?: string; key?: string };

/** A required string field: says whether it is missing or of the wrong type. */
const requiredString = (name: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `record has no ${name}` : `record ${name} is not a string`) });

/** A required object section, with the same distinction. */
const section = <T extends z.ZodRawShape>(name: string, shape: T) =>
  z.object(shape, { error: (issue) => (issue.input === undefined ? `record has no ${name}` : `record ${name} is not an object`) });

// null and "" mean absent (relays and hand-written events send both).
const optionalString = (name: string) =>
  z
    .union([z.string(), z.null()], { error: `object ${name} is not a string` })
    .optional()
    .transform((value) => (value ? value : undefined));

// S3 sends a number; some relays (and hand-written test events) send a string.
const size = z
  .union([z.number(), z.string(), z.null()], { error: 'object size is not a non-negative integer' })
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === null || value === '') return undefined;
    const parsed = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 0) {
      ctx.addIssue({ code: 'custom', message: 'object size is not a non-negative integer' });
      return z.NEVER;
    }
    return parsed;
  });

const recordSchema = z.object({
  eventVersion: requiredString('eventVersion').regex(/^2\./, 'record eventVersion is not 2.x'),
  // Absent in some relays' copies; when present it must say the record came from S3.
  eventSource: z.literal('aws:s3', { error: 'record eventSource is not "aws:s3"' }).optional(),
  eventName: requiredString('eventName'),
  eventTime: requiredString('eventTime'),
  s3: section('"s3" section', {
    bucket: section('s3.bucket', { name: requiredString('bucket name').min(1, 'record bucket name is empty') }),
    object: section('s3.object', {
      key: requiredString('object key').min(1, 'record object key is empty'),
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
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
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

export interface RecordRules {
  bucket: string;
  prefix: string;
  /**
   * How keys under the prefix are laid out (a source's keyLayout, src/config/sources.ts):
   * `submission`, the default, is `<submission_guid>/<filename>`; `any` is every key
   * S3 allows (the text rules still apply).
   */
  keyLayout?: 'submission' | 'any';
}

/** The key's layout under `rules`: its submission GUID and filename ('' and the last segment with keyLayout any). */
function checkLayout(key: string, rules: RecordRules): ReturnType<typeof parseSubmissionKey> {
  if (rules.keyLayout !== 'any') return parseSubmissionKey(key, rules.prefix);
  if (!key.startsWith(rules.prefix)) return { ok: false, reason: `object key is outside the unprocessed prefix "${rules.prefix}"` };
  return { ok: true, value: { submissionGuid: '', filename: key.slice(key.lastIndexOf('/') + 1) } };
}

/** Decides whether one record names an object this worker should scan, and if not, says why. */
export function checkRecord(record: unknown, rules: RecordRules): RecordCheck {
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
  if (bucket !== rules.bucket) {
    return { ok: false, reason: `bucket ${quoteValue(bucket)} is not the unprocessed bucket`, bucket, key };
  }
  const text = checkKeyText(key);
  if (!text.ok) return { ok: false, reason: text.reason, bucket, key };
  const layout = checkLayout(key, rules);
  if (!layout.ok) return { ok: false, reason: layout.reason, bucket, key };
  const eTag = unquoteETag(r.s3.object.eTag);
  const versionId = r.s3.object.versionId;
  const token = checkToken('eTag', eTag, ETAG) ?? checkToken('versionId', versionId, VERSION_ID);
  if (token) return { ok: false, reason: token, bucket, key };

  return {
    ok: true,
    target: {
      bucket,
      key,
      submissionGuid: layout.value.submissionGuid,
      filename: layout.value.filename,
      size: r.s3.object.size,
      eTag,
      versionId,
      eventName,
      eventTime: r.eventTime,
      record,
    },
  };
}
