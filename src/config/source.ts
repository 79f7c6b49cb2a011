/**
 * The source section: the buckets uploads arrive in, where their bad files go,
 * and the status tag written on their files. Either a sources file
 * (SOURCES_FILE, src/config/sources.ts, docs/sources.md) or the single-bucket
 * variables (UNPROCESSED_*, QUARANTINE_*, VALIDATION_QUEUE_*), which describe one
 * source; both at once is a configuration error. The pipeline takes the result
 * as its Source type (src/pipeline/deps.ts).
 */
import * as z from '../shared/zod.ts';
import { bucketNameProblem } from '../aws/s3-url.ts';
import type { Source } from '../pipeline/deps.ts';
import { defaultStatusTag, STATUS_TAG_STYLES, type StatusTagStyle } from '../verdict/verdict.ts';
import { validationQueue, type VALIDATION_QUEUE_VARIABLES } from './queues.ts';
import { normalisePrefix } from './sources.ts';
import { choice, ConfigError, optionalText, type Parsed } from './variables.ts';

/** A bucket and the folder in it (empty, or ending in "/"). */
export interface Location {
  bucket: string;
  prefix: string;
}

// Unset and empty are the same: a bucket is required only without a sources file (told apart in singleSource).
const bucketName = optionalText.check(
  z.superRefine((name, ctx) => {
    const problem = name === undefined ? undefined : bucketNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be an S3 bucket name (${problem})` });
  }),
);

const prefix = z.pipe(
  z.optional(z.string()),
  z.transform((value: string | undefined) => normalisePrefix(value)),
);

export const UNPROCESSED_VARIABLES = { UNPROCESSED_BUCKET_NAME: bucketName, UNPROCESSED_PREFIX: prefix };
export const QUARANTINE_VARIABLES = { QUARANTINE_BUCKET_NAME: bucketName, QUARANTINE_PREFIX: prefix };

/** SOURCES_FILE: a JSON or YAML file that lists every source (docs/sources.md). */
/**
 * SOURCES_FILE: the sources file (JSON or YAML, src/config/sources.ts); SOURCES:
 * the same document inline as JSON, as a deployment gives it (an ECS task cannot
 * hand its read-only, non-root worker a file). Unset: the single-bucket variables.
 */
export const SOURCES_VARIABLES = { SOURCES_FILE: optionalText, SOURCES: optionalText };

export const STATUS_TAG_VARIABLES = {
  // Unset: the style's default key; set but empty: no tagging (told apart in statusTag).
  SCAN_STATUS_TAG: z.optional(
    z
      .string()
      .check(
        z.trim(),
        z.regex(
          /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,128}$/u,
          'must be an S3 tag key (at most 128 letters, digits, spaces and _ . : / = + - @), or empty to turn tagging off',
        ),
      ),
  ),
  STATUS_TAG_STYLE: choice(STATUS_TAG_STYLES, 'bucketscan', `must be one of ${STATUS_TAG_STYLES.join(', ')}`),
};

function required(name: string, value: string | undefined, hint = ''): string {
  if (value === undefined) throw new ConfigError(name, `is required but not set${hint}`);
  return value;
}

export function unprocessedLocation(v: Parsed<typeof UNPROCESSED_VARIABLES>, hint?: string): Location {
  return { bucket: required('UNPROCESSED_BUCKET_NAME', v.UNPROCESSED_BUCKET_NAME, hint), prefix: v.UNPROCESSED_PREFIX };
}

export function quarantineLocation(v: Parsed<typeof QUARANTINE_VARIABLES>, hint?: string): Location {
  return { bucket: required('QUARANTINE_BUCKET_NAME', v.QUARANTINE_BUCKET_NAME, hint), prefix: v.QUARANTINE_PREFIX };
}

/** STATUS_TAG_STYLE. */
export function statusTagStyle(v: Parsed<typeof STATUS_TAG_VARIABLES>): StatusTagStyle {
  return v.STATUS_TAG_STYLE;
}

/** SCAN_STATUS_TAG: the tag key (the style's default when unset), or undefined when tagging is off. */
export function statusTag(v: Parsed<typeof STATUS_TAG_VARIABLES>): string | undefined {
  return v.SCAN_STATUS_TAG === undefined ? defaultStatusTag(v.STATUS_TAG_STYLE) : v.SCAN_STATUS_TAG || undefined;
}

/**
 * The variables a sources file replaces: set beside SOURCES_FILE, one of them
 * would either be ignored or contradict the file, so that is refused.
 */
export const SINGLE_SOURCE_VARIABLES = [
  'UNPROCESSED_BUCKET_NAME',
  'UNPROCESSED_PREFIX',
  'QUARANTINE_BUCKET_NAME',
  'QUARANTINE_PREFIX',
  'VALIDATION_QUEUE_NAME',
  'VALIDATION_QUEUE_URL',
] as const;

/** The one source the single-bucket variables describe. */
export function singleSource(
  v: Parsed<typeof UNPROCESSED_VARIABLES & typeof QUARANTINE_VARIABLES & typeof VALIDATION_QUEUE_VARIABLES & typeof STATUS_TAG_VARIABLES>,
): Source {
  // The worker's settings name the other way to give its buckets.
  const hint = ' (or set SOURCES_FILE to list the buckets)';
  const unprocessed = unprocessedLocation(v, hint);
  const quarantine = quarantineLocation(v, hint);
  if (unprocessed.bucket === quarantine.bucket && unprocessed.prefix === quarantine.prefix) {
    throw new ConfigError('QUARANTINE_BUCKET_NAME', 'must differ from UNPROCESSED_BUCKET_NAME (or set a distinct QUARANTINE_PREFIX)');
  }
  return {
    label: 'UNPROCESSED_BUCKET_NAME',
    ...unprocessed,
    keyLayout: 'submission',
    quarantine,
    validationQueue: validationQueue(v),
    notificationTopicArn: undefined,
    statusTag: statusTag(v),
  };
}
