import { z } from 'zod';
import { decodeEventKey, parseSubmissionKey } from './key.ts';

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

const optionalString = z
  .union([z.string(), z.null()])
  .optional()
  .transform((value) => (value ? value : undefined));

// S3 sends a number; some relays (and hand-written test events) send a string.
const size = z
  .union([z.number(), z.string(), z.null()])
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
  eventVersion: z.string({ error: 'record has no eventVersion' }).regex(/^2\./, 'record eventVersion is not 2.x'),
  eventName: z.string({ error: 'record has no eventName' }),
  eventTime: z.string({ error: 'record has no eventTime' }),
  s3: z.object(
    {
      bucket: z.object({ name: z.string({ error: 'record has no bucket name' }).min(1, 'record bucket name is empty') }, { error: 'record has no s3.bucket' }),
      object: z.object(
        {
          key: z.string({ error: 'record has no object key' }).min(1, 'record object key is empty'),
          size,
          eTag: optionalString,
          versionId: optionalString,
        },
        { error: 'record has no s3.object' },
      ),
    },
    { error: 'record has no "s3" section' },
  ),
});

export interface RecordRules {
  bucket: string;
  prefix: string;
}

/** Decides whether one record names an object this worker should scan, and if not, says why. */
export function checkRecord(record: unknown, rules: RecordRules): RecordCheck {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { ok: false, reason: 'record is not a JSON object' };
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
    return { ok: false, reason: `event "${eventName}" is not an object creation`, bucket, key };
  }
  if (bucket !== rules.bucket) {
    return { ok: false, reason: `bucket "${bucket}" is not the unprocessed bucket`, bucket, key };
  }
  const layout = parseSubmissionKey(key, rules.prefix);
  if (!layout.ok) return { ok: false, reason: layout.reason, bucket, key };

  return {
    ok: true,
    target: {
      bucket,
      key,
      submissionGuid: layout.value.submissionGuid,
      filename: layout.value.filename,
      size: r.s3.object.size,
      eTag: r.s3.object.eTag?.replace(/^"+|"+$/g, '') || undefined,
      versionId: r.s3.object.versionId,
      eventName,
      eventTime: r.eventTime,
      record,
    },
  };
}
