/**
 * Sources: the buckets one fleet scans, each with its own rules and destinations
 * (SOURCES_FILE, docs/sources.md). A source is one bucket, or one folder of a
 * bucket; every record is judged by the one source its bucket and key fall in.
 *
 * Pure: parsing and validation only. Reading the file is `readSourcesFile`'s job.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { quoteValue } from '../events/text.ts';
import { bucketNameProblem } from '../aws/s3-url.ts';
import { QUEUE_NAME, type QueueRef } from '../aws/queue.ts';
import { TOPIC_ARN } from '../aws/topic.ts';

/** How keys under a source's prefix must be laid out. */
export const KEY_LAYOUTS = ['submission', 'any'] as const;
export type KeyLayout = (typeof KEY_LAYOUTS)[number];

/** One scanned area and where its results go. */
export interface Source {
  /** How messages name this entry: `sources[2] (bucket "uploads")`. */
  label: string;
  bucket: string;
  /** The folder scanned: '' or ending in '/'. */
  prefix: string;
  keyLayout: KeyLayout;
  quarantineBucket: string;
  /** '' or ending in '/'. */
  quarantinePrefix: string;
  /** Where clean files' events go; undefined: clean files are only tagged and announced. */
  validationQueue: QueueRef | undefined;
  /** This source's own topic; undefined: the global VIRUS_NOTIFICATION_TOPIC_ARN. */
  notificationTopicArn: string | undefined;
  /** Overrides SCAN_STATUS_TAG for this source: false turns tagging off, true keeps it on. undefined: the global setting. */
  statusTag: boolean | undefined;
}

/** A sources file that cannot be used; the message names the entry and the field. */
export class SourcesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourcesError';
  }
}

/** "incoming" and "incoming/" are the same folder; S3 keys never start with a slash. */
export function normalisePrefix(value: string | undefined): string {
  const trimmed = (value ?? '').trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

const QUEUE_URL = /^https?:\/\/[^\s/]+\/\S+$/;

const bucket = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .superRefine((value, ctx) => {
    const problem = bucketNameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be an S3 bucket name (${problem})` });
  });

const prefix = z.string({ error: 'must be a string (a folder such as "incoming/", or "")' }).transform(normalisePrefix);

const entrySchema = z.strictObject(
  {
    bucket,
    prefix: prefix.optional(),
    keyLayout: z.enum(KEY_LAYOUTS, { error: `must be one of ${KEY_LAYOUTS.join(', ')}` }).optional(),
    quarantineBucket: bucket,
    quarantinePrefix: z
      .string({ error: (issue) => (issue.input === undefined ? 'is required ("" for the top of the bucket)' : 'must be a string') })
      .transform(normalisePrefix),
    validationQueue: z
      .string({ error: 'must be a queue name or URL' })
      .trim()
      .refine((value) => QUEUE_NAME.test(value) || QUEUE_URL.test(value), 'must be an SQS queue name or an http(s) queue URL')
      .optional(),
    notificationTopicArn: z
      .string({ error: 'must be an SNS topic ARN' })
      .trim()
      .regex(TOPIC_ARN, 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)')
      .optional(),
    statusTag: z
      .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
      .transform((value) => value === true || value === 'true')
      .optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${JSON.stringify(issue.keys[0])}` : 'must be an object') },
);

const fileSchema = z.strictObject(
  {
    sources: z
      .array(z.unknown(), { error: (issue) => (issue.input === undefined ? 'is required' : 'must be a list') })
      .min(1, 'must list at least one source'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field ${JSON.stringify(issue.keys[0])} (the file holds one field, "sources")`
        : 'must be an object with a "sources" list',
  },
);

function labelOf(index: number, entry: unknown): string {
  const name = entry && typeof entry === 'object' && 'bucket' in entry ? (entry as { bucket: unknown }).bucket : undefined;
  return typeof name === 'string' && name.length <= 63 ? `sources[${index}] (bucket ${JSON.stringify(name)})` : `sources[${index}]`;
}

function where(location: string, bucketName: string, folder: string): string {
  return `${location} s3://${bucketName}/${folder}`;
}

/** Two folders of one bucket overlap when one contains the other ('' contains everything). */
function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/**
 * Validates a parsed sources document. Throws SourcesError whose message names
 * the entry and the field: `sources[1] (bucket "b").quarantineBucket: is required`.
 */
export function parseSources(document: unknown): Source[] {
  const file = fileSchema.safeParse(document);
  if (!file.success) {
    const issue = file.error.issues[0];
    const field = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new SourcesError(`${field}${issue?.message ?? 'is invalid'}`);
  }
  const sources = file.data.sources.map((entry, index): Source => {
    const label = labelOf(index, entry);
    const parsed = entrySchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.length ? `.${issue.path.join('.')}` : '';
      throw new SourcesError(`${label}${field}: ${issue?.message ?? 'is invalid'}`);
    }
    const value = parsed.data;
    const queue = value.validationQueue;
    return {
      label,
      bucket: value.bucket,
      prefix: value.prefix ?? '',
      keyLayout: value.keyLayout ?? 'submission',
      quarantineBucket: value.quarantineBucket,
      quarantinePrefix: value.quarantinePrefix,
      validationQueue: queue === undefined ? undefined : QUEUE_URL.test(queue) ? { url: queue } : { name: queue },
      notificationTopicArn: value.notificationTopicArn,
      statusTag: value.statusTag,
    };
  });
  checkAreas(sources);
  return sources;
}

/**
 * Scanned areas must not overlap (every key belongs to at most one source), and
 * no quarantine area may overlap a scanned one: a quarantined file would be
 * scanned again, and a report would land where uploads are judged.
 */
export function checkAreas(sources: readonly Source[]): void {
  for (const [i, source] of sources.entries()) {
    for (const other of sources.slice(0, i)) {
      if (source.bucket !== other.bucket) continue;
      if (source.prefix === other.prefix) {
        throw new SourcesError(
          `${source.label}.bucket: ${where('', source.bucket, source.prefix).trim()} is already scanned by ${other.label}`,
        );
      }
      if (overlaps(source.prefix, other.prefix)) {
        throw new SourcesError(
          `${source.label}.prefix: ${JSON.stringify(source.prefix)} overlaps ${other.label}'s prefix ${JSON.stringify(other.prefix)} in the same bucket`,
        );
      }
    }
  }
  for (const source of sources) {
    for (const scanned of sources) {
      if (source.quarantineBucket !== scanned.bucket || !overlaps(source.quarantinePrefix, scanned.prefix)) continue;
      const quarantine = where('the quarantine area', source.quarantineBucket, source.quarantinePrefix);
      const area = where(`the area ${scanned === source ? 'it' : scanned.label} scans,`, scanned.bucket, scanned.prefix);
      throw new SourcesError(`${source.label}.quarantinePrefix: ${quarantine} overlaps ${area}`);
    }
  }
}

/** The source a record belongs to, or why none does. */
export type SourceMatch = { ok: true; source: Source } | { ok: false; reason: string };

/**
 * Finds the source of `bucket`/`key` (decoded). Areas never overlap, so at most
 * one matches. A bucket no source names is not ours; a key outside every folder
 * of a known bucket is outside the scanned area.
 */
export function findSource(sources: readonly Source[], bucketName: string, key: string): SourceMatch {
  const folders: string[] = [];
  for (const source of sources) {
    if (source.bucket !== bucketName) continue;
    if (key.startsWith(source.prefix)) return { ok: true, source };
    folders.push(`"${source.prefix}"`);
  }
  if (folders.length === 0) {
    // One source is today's single unprocessed bucket, and keeps its wording.
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

/**
 * Reads SOURCES_FILE: JSON, or YAML when the name ends in .yaml or .yml (the YAML
 * parser is loaded only then). Throws SourcesError naming the file's problem.
 */
export async function readSourcesFile(path: string): Promise<Source[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SourcesError(`cannot read ${JSON.stringify(path)}${code ? ` (${code})` : ''}`);
  }
  let document: unknown;
  if (/\.ya?ml$/i.test(path)) {
    const { parse, YAMLParseError } = await import('yaml');
    try {
      document = parse(text, { prettyErrors: false, uniqueKeys: true });
    } catch (error) {
      const line = error instanceof YAMLParseError ? ` at line ${text.slice(0, error.pos[0]).split('\n').length}` : '';
      throw new SourcesError(`${JSON.stringify(path)} is not valid YAML${line}: ${firstLine(error)}`);
    }
  } else {
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new SourcesError(`${JSON.stringify(path)} is not valid JSON: ${firstLine(error)}`);
    }
  }
  return parseSources(document);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
