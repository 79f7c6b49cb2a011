/**
 * The source section: the bucket (and prefix) uploads arrive in, where its bad
 * files go, and the status tag written on its files. Today one source, from
 * UNPROCESSED_*, QUARANTINE_* and SCAN_STATUS_TAG; the pipeline takes it as its
 * SourceSettings (src/pipeline/deps.ts).
 */
import { z } from 'zod';
import { bucketNameProblem } from '../aws/s3-url.ts';
import type { SourceSettings } from '../pipeline/deps.ts';
import { DEFAULT_STATUS_TAG } from '../verdict/verdict.ts';
import { normalisePrefix } from './sources.ts';
import { ConfigError, text, type Parsed } from './variables.ts';

/** A bucket and the folder in it (empty, or ending in "/"). */
export interface Location {
  bucket: string;
  prefix: string;
}

const bucketName = text.superRefine((name, ctx) => {
  const problem = bucketNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: `must be an S3 bucket name (${problem})` });
});

const prefix = z.string().optional().transform(normalisePrefix);

export const UNPROCESSED_VARIABLES = { UNPROCESSED_BUCKET_NAME: bucketName, UNPROCESSED_PREFIX: prefix };
export const QUARANTINE_VARIABLES = { QUARANTINE_BUCKET_NAME: bucketName, QUARANTINE_PREFIX: prefix };

export const STATUS_TAG_VARIABLES = {
  // Unset: the default key; set but empty: no tagging (told apart in statusTag).
  SCAN_STATUS_TAG: z
    .string()
    .trim()
    .regex(
      /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,128}$/u,
      'must be an S3 tag key (at most 128 letters, digits, spaces and _ . : / = + - @), or empty to turn tagging off',
    )
    .optional(),
};

export function unprocessedLocation(v: Parsed<typeof UNPROCESSED_VARIABLES>): Location {
  return { bucket: v.UNPROCESSED_BUCKET_NAME, prefix: v.UNPROCESSED_PREFIX };
}

export function quarantineLocation(v: Parsed<typeof QUARANTINE_VARIABLES>): Location {
  return { bucket: v.QUARANTINE_BUCKET_NAME, prefix: v.QUARANTINE_PREFIX };
}

/** SCAN_STATUS_TAG: the tag key, or undefined when tagging is off. */
export function statusTag(v: Parsed<typeof STATUS_TAG_VARIABLES>): string | undefined {
  return v.SCAN_STATUS_TAG === undefined ? DEFAULT_STATUS_TAG : v.SCAN_STATUS_TAG || undefined;
}

export function sourceSettings(
  v: Parsed<typeof UNPROCESSED_VARIABLES & typeof QUARANTINE_VARIABLES & typeof STATUS_TAG_VARIABLES>,
): SourceSettings {
  const unprocessed = unprocessedLocation(v);
  const quarantine = quarantineLocation(v);
  if (unprocessed.bucket === quarantine.bucket && unprocessed.prefix === quarantine.prefix) {
    throw new ConfigError('QUARANTINE_BUCKET_NAME', 'must differ from UNPROCESSED_BUCKET_NAME (or set a distinct QUARANTINE_PREFIX)');
  }
  return { ...unprocessed, quarantine, statusTag: statusTag(v) };
}
