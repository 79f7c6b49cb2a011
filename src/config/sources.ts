/**
 * Sources: the buckets one fleet scans, each with its own rules and destinations
 * (SOURCES_FILE, docs/sources.md). A source is one bucket, or one folder of a
 * bucket; every record is judged by the one source its bucket and key fall in
 * (findSource, src/events/record.ts).
 *
 * Parsing and validation; `readSourcesDocument` reads the file (JSON, or YAML).
 * The result is the pipeline's own Source type (src/pipeline/deps.ts).
 */
import { readFile } from 'node:fs/promises';
import * as z from '../shared/zod.ts';
import { bucketNameProblem } from '../aws/s3-url.ts';
import { QUEUE_NAME } from '../aws/queue.ts';
import { TOPIC_ARN } from '../aws/topic.ts';
import { KEY_LAYOUTS } from '../events/key.ts';
import type { Source } from '../pipeline/deps.ts';
import { type FileRules, UNSCANNABLE_ACTIONS, type UnscannableAction } from '../pipeline/decide.ts';
import { MAX_SCANNABLE_MB } from './clamd.ts';
import { MEGABYTE } from './variables.ts';
import { isDetectable, UNKNOWN_TYPE } from '../filetype/detect.ts';
import { DEFAULT_STATUS_TAG } from '../verdict/verdict.ts';
import { QUEUE_URL, queueRefOf } from './queues.ts';
import { checkAreas as checkSourceAreas, SourcesError } from './source-areas.ts';

export { SourcesError };

export { findSource } from '../events/record.ts';
export { KEY_LAYOUTS, type KeyLayout } from '../events/key.ts';
export type { Source } from '../pipeline/deps.ts';

/** What an entry that says nothing about its status tag gets. */
export interface SourceDefaults {
  /** The tag key of a source without `statusTag` (SCAN_STATUS_TAG as set; undefined: tagging off). */
  statusTag: string | undefined;
  /** The key of a source with `statusTag: true` when tagging is off globally (the style's default). */
  defaultStatusTag: string;
}

const DEFAULTS: SourceDefaults = { statusTag: DEFAULT_STATUS_TAG, defaultStatusTag: DEFAULT_STATUS_TAG };

/** "incoming" and "incoming/" are the same folder; S3 keys never start with a slash. */
export function normalisePrefix(value: string | undefined): string {
  const trimmed = (value ?? '').trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

const bucket = z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).check(
  z.superRefine((value, ctx) => {
    const problem = bucketNameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be an S3 bucket name (${problem})` });
  }),
);

const prefix = z.pipe(
  z.string({ error: 'must be a string (a folder such as "incoming/", or "")' }),
  z.transform((value: string) => normalisePrefix(value)),
);

/** allowTypes, denyTypes: types the detector knows by their first bytes (file-type's extensions), or "unknown". */
const typeList = z
  .array(
    z.string({ error: 'must be a file type such as "pdf" or "png"' }).check(
      z.trim(),
      z.toLowerCase(),
      z.superRefine((name, ctx) => {
        if (name === UNKNOWN_TYPE || isDetectable(name)) return;
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(name)} is not a type the first bytes can show (file-type's extensions, such as pdf, png, exe, docm; or "${UNKNOWN_TYPE}" for plain text and other bytes no detector knows)`,
        });
      }),
    ),
    { error: 'must be a list of file types' },
  )
  .check(z.minLength(1, 'must list at least one type'));

const entrySchema = z.strictObject(
  {
    bucket,
    prefix: z.optional(prefix),
    keyLayout: z.optional(z.enum(KEY_LAYOUTS, { error: `must be one of ${KEY_LAYOUTS.join(', ')}` })),
    quarantineBucket: bucket,
    quarantinePrefix: z.pipe(
      z.string({ error: (issue) => (issue.input === undefined ? 'is required ("" for the top of the bucket)' : 'must be a string') }),
      z.transform((value: string) => normalisePrefix(value)),
    ),
    validationQueue: z.optional(
      z.string({ error: 'must be a queue name or URL' }).check(
        z.trim(),
        z.refine((value) => QUEUE_NAME.test(value) || QUEUE_URL.test(value), 'must be an SQS queue name or an http(s) queue URL'),
      ),
    ),
    notificationTopicArn: z.optional(
      z
        .string({ error: 'must be an SNS topic ARN' })
        .check(z.trim(), z.regex(TOPIC_ARN, 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)')),
    ),
    statusTag: z.optional(
      z.pipe(
        z.union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' }),
        z.transform((value) => value === true || value === 'true'),
      ),
    ),
    // The file rules (docs/detection.md, "File-type and size rules").
    maxFileSize: z.optional(
      z
        .number({ error: 'must be a number of MB (as MAX_FILE_SIZE)' })
        .check(z.positive('must be more than 0'), z.lte(MAX_SCANNABLE_MB, `must be at most ${MAX_SCANNABLE_MB} MB`)),
    ),
    allowTypes: z.optional(typeList),
    denyTypes: z.optional(typeList),
    unscannableAction: z.optional(z.enum(UNSCANNABLE_ACTIONS, { error: `must be one of ${UNSCANNABLE_ACTIONS.join(', ')}` })),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${JSON.stringify(issue.keys[0])}` : 'must be an object') },
);

const fileSchema = z.strictObject(
  {
    sources: z
      .array(z.unknown(), { error: (issue) => (issue.input === undefined ? 'is required' : 'must be a list') })
      .check(z.minLength(1, 'must list at least one source')),
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

/**
 * Validates a parsed sources document. Throws SourcesError whose message names
 * the entry and the field: `sources[1] (bucket "b").quarantineBucket: is required`.
 * `statusTag` becomes the tag key itself (or undefined: off) from `defaults`.
 */
export function parseSources(document: unknown, defaults: SourceDefaults = DEFAULTS): Source[] {
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
      quarantine: { bucket: value.quarantineBucket, prefix: value.quarantinePrefix },
      validationQueue: queueRefOf(queue),
      notificationTopicArn: value.notificationTopicArn,
      statusTag:
        value.statusTag === undefined
          ? defaults.statusTag
          : value.statusTag
            ? (defaults.statusTag ?? defaults.defaultStatusTag)
            : undefined,
      ...fileRulesOf(value),
    };
  });
  checkAreas(sources);
  return sources;
}

/** An entry's file rules, when it has any. */
function fileRulesOf(value: {
  maxFileSize?: number | undefined;
  allowTypes?: string[] | undefined;
  denyTypes?: string[] | undefined;
  unscannableAction?: UnscannableAction | undefined;
}): { rules?: FileRules } {
  const rules: FileRules = {
    ...(value.maxFileSize === undefined ? {} : { maxFileSizeBytes: Math.floor(value.maxFileSize * MEGABYTE) }),
    ...(value.allowTypes ? { allowTypes: value.allowTypes } : {}),
    ...(value.denyTypes ? { denyTypes: value.denyTypes } : {}),
    ...(value.unscannableAction ? { unscannableAction: value.unscannableAction } : {}),
  };
  return Object.keys(rules).length === 0 ? {} : { rules };
}

/** The area rule (src/config/source-areas.ts, shared with deploy/) on parsed sources. */
export function checkAreas(sources: readonly Source[]): void {
  checkSourceAreas(
    sources.map((source) => ({
      label: source.label,
      bucket: source.bucket,
      prefix: source.prefix,
      quarantineBucket: source.quarantine.bucket,
      quarantinePrefix: source.quarantine.prefix,
    })),
  );
}

/**
 * Reads SOURCES_FILE: JSON, or YAML when the name ends in .yaml or .yml (the YAML
 * parser is loaded only then). Throws SourcesError naming the file's problem;
 * the document is not checked here (parseSources does that).
 */
export async function readSourcesDocument(path: string): Promise<unknown> {
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
  return document;
}

/** Reads and checks a sources file. */
export async function readSourcesFile(path: string, defaults: SourceDefaults = DEFAULTS): Promise<Source[]> {
  return parseSources(await readSourcesDocument(path), defaults);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
