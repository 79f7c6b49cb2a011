/**
 * The settings, in sections, each in its own file with its variables and its
 * rules: aws, clamd, queues, source (and sources), results, tuning, metrics,
 * log. The worker loads them all at once (`readConfig`, `loadConfig`: a worker
 * never starts half-configured); a one-off command reads only the sections it
 * uses (`commandSettings`).
 */
import type { ServiceConnection } from '../aws/clients.ts';
import type { QueueRef } from '../aws/queue.ts';
import type { Source } from '../pipeline/deps.ts';
import type { StatusTagStyle } from '../verdict/verdict.ts';
import { defaultStatusTag } from '../verdict/verdict.ts';
import { AWS_VARIABLES, awsSettings, regionOf, serviceConnection, type AwsSettings } from './aws.ts';
import { CLAMD_VARIABLES, clamdSettings, type ClamdSettings } from './clamd.ts';
import { DETECTION_VARIABLES, detectionSettings, type DetectionSettings } from './detection.ts';
import type { Env } from './env-file.ts';
import { LOG_VARIABLES, logSettings, type LogSettings } from './log.ts';
import { HEALTH_VARIABLES, METRICS_VARIABLES, metricsSettings, type MetricsSettings } from './metrics.ts';
import {
  INBOUND_QUEUE_VARIABLES,
  inboundQueue,
  QUEUE_VARIABLES,
  queueRefOf,
  queueSettings,
  VALIDATION_QUEUE_VARIABLES,
  validationQueue,
  type QueueSettings,
} from './queues.ts';
import { RESULT_VARIABLES, resultBus } from './results.ts';
import {
  QUARANTINE_VARIABLES,
  quarantineLocation,
  SINGLE_SOURCE_VARIABLES,
  singleSource,
  SOURCES_VARIABLES,
  STATUS_TAG_VARIABLES,
  statusTag,
  statusTagStyle,
  UNPROCESSED_VARIABLES,
  unprocessedLocation,
  type Location,
} from './source.ts';
import { parseSources, readSourcesDocument, SourcesError } from './sources.ts';
import { TUNING_VARIABLES, tuningSettings, type TuningSettings } from './tuning.ts';
import { ConfigError, parseVariables, type Parsed } from './variables.ts';

export interface Config {
  aws: AwsSettings;
  clamd: ClamdSettings;
  queues: QueueSettings;
  /** SOURCES_FILE, when the sources come from a file. */
  sourcesFile: string | undefined;
  /** Every bucket scanned, with where its results go: a sources file's entries, or the one the single-bucket variables describe. */
  sources: Source[];
  /** The first source: with the single-bucket variables, the only one (the local stack's banner and demo use it). */
  source: Source;
  /** The words of the status tag (STATUS_TAG_STYLE). */
  statusTagStyle: StatusTagStyle;
  /** RESULT_EVENT_BUS (name or ARN); undefined: no result events. */
  resultBus: string | undefined;
  tuning: TuningSettings;
  metrics: MetricsSettings;
  log: LogSettings;
}

/** Every variable the worker reads, in the order a problem is reported (docs/configuration.md documents each). */
const WORKER_VARIABLES = {
  ...SOURCES_VARIABLES,
  ...UNPROCESSED_VARIABLES,
  ...QUARANTINE_VARIABLES,
  ...QUEUE_VARIABLES,
  ...RESULT_VARIABLES,
  ...AWS_VARIABLES,
  ...CLAMD_VARIABLES,
  ...TUNING_VARIABLES,
  ...HEALTH_VARIABLES,
  ...METRICS_VARIABLES,
  ...STATUS_TAG_VARIABLES,
  ...LOG_VARIABLES,
};

export const VARIABLES: readonly string[] = Object.keys(WORKER_VARIABLES);

type WorkerVariables = Parsed<typeof WORKER_VARIABLES>;

/** A sources document as read: where it came from (for messages) and its parsed document. */
export interface SourcesFile {
  /** The variable that gave it: SOURCES_FILE or SOURCES. */
  variable: 'SOURCES_FILE' | 'SOURCES';
  /** For messages: the file's path, or "SOURCES". */
  origin: string;
  document: unknown;
}

/** The variable that gives the sources document, if any (both set is refused). */
function sourcesVariable(v: { SOURCES_FILE: string | undefined; SOURCES: string | undefined }): 'SOURCES_FILE' | 'SOURCES' | undefined {
  if (v.SOURCES_FILE !== undefined && v.SOURCES !== undefined)
    throw new ConfigError('SOURCES', 'and SOURCES_FILE are both set: set one of them');
  return v.SOURCES_FILE !== undefined ? 'SOURCES_FILE' : v.SOURCES !== undefined ? 'SOURCES' : undefined;
}

/**
 * The sources: a sources document's (with no single-bucket variable beside it), or
 * the one the single-bucket variables describe. A bad document is a ConfigError on
 * SOURCES_FILE (or SOURCES) naming the entry and the field.
 */
function sourcesOf(v: WorkerVariables, file: SourcesFile | undefined): Source[] {
  const variable = sourcesVariable(v);
  if (variable === undefined) return [singleSource(v)];
  const beside = SINGLE_SOURCE_VARIABLES.find((name) => v[name]);
  if (beside) {
    throw new ConfigError(
      variable,
      `cannot be combined with ${beside}: the sources document names every bucket and its queues (unset ${beside}, or set it empty)`,
    );
  }
  const document = file?.variable === variable ? file.document : variable === 'SOURCES' ? inlineDocument(v.SOURCES ?? '') : undefined;
  if (document === undefined) throw new ConfigError('SOURCES_FILE', 'was not read (readConfig reads it)');
  try {
    return parseSources(document, { statusTag: statusTag(v), defaultStatusTag: defaultStatusTag(statusTagStyle(v)) });
  } catch (error) {
    if (error instanceof SourcesError)
      throw new ConfigError(variable, variable === 'SOURCES' ? error.message : `${file?.origin}: ${error.message}`);
    throw error;
  }
}

/** SOURCES: the sources document as JSON text. */
function inlineDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('SOURCES', `is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * The global topic is required unless every source names its own; all topics
 * must be in the one region the SNS client publishes to.
 */
function checkTopics(sources: readonly Source[], globalTopic: string | undefined, snsRegion: string): void {
  const uncovered = sources.find((source) => source.notificationTopicArn === undefined);
  if (globalTopic === undefined && uncovered) {
    throw new ConfigError(
      'VIRUS_NOTIFICATION_TOPIC_ARN',
      sources.length === 1 && uncovered.label === 'UNPROCESSED_BUCKET_NAME'
        ? 'is required but not set'
        : `is required: ${uncovered.label} names no notificationTopicArn of its own`,
    );
  }
  for (const source of sources) {
    const region = regionOf(source.notificationTopicArn);
    if (region !== undefined && region !== snsRegion) {
      throw new ConfigError(
        'SOURCES_FILE',
        `${source.label}.notificationTopicArn: is in ${region}, but the worker publishes in ${snsRegion}; every topic must be in that one region (or set AWS_SNS_REGION)`,
      );
    }
  }
}

/**
 * A source's maxFileSize may lower MAX_FILE_SIZE, not raise it: clamd's own limits
 * (StreamMaxLength, MaxFileSize) follow MAX_FILE_SIZE, so a larger file would come
 * back UNSCANNABLE anyway.
 */
function checkFileSizes(sources: readonly Source[], maxFileSizeBytes: number, v: WorkerVariables): void {
  const over = sources.find((source) => (source.rules?.maxFileSizeBytes ?? 0) > maxFileSizeBytes);
  if (!over) return;
  throw new ConfigError(
    sourcesVariable(v) ?? 'SOURCES_FILE',
    `${over.label}.maxFileSize: is above MAX_FILE_SIZE (${v.MAX_FILE_SIZE} MB), which clamd's limits follow: raise MAX_FILE_SIZE, or lower it`,
  );
}

/**
 * Validates the whole environment up front, each variable once, so a worker
 * never starts half-configured. With SOURCES_FILE set, `sourcesFile` is that
 * file as read (readConfig reads it; YAML is parsed asynchronously).
 */
export function loadConfig(env: Env, sourcesFile?: SourcesFile): Config {
  const v = parseVariables(env, WORKER_VARIABLES);
  const sources = sourcesOf(v, sourcesFile);
  const queues = queueSettings(v);
  const bus = resultBus(v);
  const aws = awsSettings(v, queues.topicArn ?? sources.find((source) => source.notificationTopicArn)?.notificationTopicArn, bus);
  checkTopics(sources, queues.topicArn, aws.sns.region);
  const clamd = clamdSettings(v, env);
  checkFileSizes(sources, clamd.maxFileSizeBytes, v);
  return {
    aws,
    clamd,
    queues,
    sourcesFile: v.SOURCES_FILE,
    sources,
    source: sources[0]!,
    statusTagStyle: statusTagStyle(v),
    resultBus: bus,
    tuning: tuningSettings(v),
    metrics: metricsSettings(v),
    log: logSettings(v),
  };
}

/** loadConfig, after reading SOURCES_FILE when it is set (a file that cannot be read or parsed is a ConfigError on it). */
export async function readConfig(env: Env): Promise<Config> {
  const path = env['SOURCES_FILE']?.trim();
  if (!path) return loadConfig(env);
  try {
    return loadConfig(env, { variable: 'SOURCES_FILE', origin: path, document: await readSourcesDocument(path) });
  } catch (error) {
    if (error instanceof SourcesError) throw new ConfigError('SOURCES_FILE', error.message);
    throw error;
  }
}

/**
 * The sections a one-off command (scan, rescan, dlq) may need, from the same
 * environment as the worker's, without requiring what it does not use: a command
 * that scans a local file needs no bucket, queue or region. Each getter checks
 * only its own variables, once, and throws the worker's own ConfigError for a bad
 * or missing one when first asked.
 */
export interface CommandSettings {
  clamd(): ClamdSettings;
  aws(service: 's3' | 'sqs'): ServiceConnection;
  /** UNPROCESSED_BUCKET_NAME and UNPROCESSED_PREFIX. */
  unprocessed(): Location;
  /** QUARANTINE_BUCKET_NAME and QUARANTINE_PREFIX. */
  quarantine(): Location;
  inboundQueue(): QueueRef;
  /** VALIDATION_QUEUE_URL or _NAME (release forwards there). */
  validationQueue(): QueueRef;
  /** CUSTOM_DATABASES and the memory guard's limits (signatures, allow). */
  detection(): DetectionSettings;
  /** RESCAN_QUEUE; undefined when it is not set. */
  rescanQueue(): QueueRef | undefined;
  /** SCAN_STATUS_TAG (and STATUS_TAG_STYLE's default): the tag key, or undefined when tagging is off. */
  statusTag(): string | undefined;
  /** STATUS_TAG_STYLE: the words of the status tag (bucketscan's CLEAN…, or GuardDuty's). */
  statusTagStyle(): StatusTagStyle;
  /** CONCURRENCY, RECEIVE_AHEAD and the rest of the tuning section. */
  tuning(): TuningSettings;
  /**
   * The sources: SOURCES_FILE read and checked, or SOURCES, the same document
   * inline; a bad one is a ConfigError naming the variable, the entry and the
   * field. undefined when neither is set, and the single-bucket variables
   * describe the one source.
   */
  sources(): Promise<CommandSources | undefined>;
}

export interface CommandSources {
  /** Where they came from, for messages: `SOURCES_FILE (/etc/bucketscan/sources.yaml)` or `SOURCES`. */
  origin: string;
  sources: Source[];
}

/** A getter that runs `read` once and then answers (or throws) the same. */
function once<T>(read: () => T): () => T {
  let result: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!result) {
      try {
        result = { value: read() };
      } catch (error) {
        result = { error };
      }
    }
    if ('error' in result) throw result.error;
    return result.value;
  };
}

export function commandSettings(env: Env): CommandSettings {
  const aws = once(() => parseVariables(env, AWS_VARIABLES));
  const s3 = once(() => serviceConnection(aws(), 'S3'));
  const sqs = once(() => serviceConnection(aws(), 'SQS'));
  return {
    clamd: once(() => clamdSettings(parseVariables(env, CLAMD_VARIABLES), env)),
    aws: (service) => (service === 's3' ? s3() : sqs()),
    unprocessed: once(() => unprocessedLocation(parseVariables(env, UNPROCESSED_VARIABLES))),
    quarantine: once(() => quarantineLocation(parseVariables(env, QUARANTINE_VARIABLES))),
    inboundQueue: once(() => inboundQueue(parseVariables(env, INBOUND_QUEUE_VARIABLES))),
    validationQueue: once(() => validationQueue(parseVariables(env, VALIDATION_QUEUE_VARIABLES))),
    detection: once(() => detectionSettings(parseVariables(env, DETECTION_VARIABLES))),
    rescanQueue: once(() => queueRefOf(parseVariables(env, { RESCAN_QUEUE: QUEUE_VARIABLES.RESCAN_QUEUE }).RESCAN_QUEUE)),
    statusTag: once(() => statusTag(parseVariables(env, STATUS_TAG_VARIABLES))),
    statusTagStyle: once(() => statusTagStyle(parseVariables(env, STATUS_TAG_VARIABLES))),
    tuning: once(() => tuningSettings(parseVariables(env, TUNING_VARIABLES))),
    sources: once(async () => {
      const v = parseVariables(env, SOURCES_VARIABLES);
      const variable = sourcesVariable(v);
      if (variable === undefined) return undefined;
      const tags = parseVariables(env, STATUS_TAG_VARIABLES);
      const defaults = { statusTag: statusTag(tags), defaultStatusTag: defaultStatusTag(statusTagStyle(tags)) };
      try {
        const document = variable === 'SOURCES_FILE' ? await readSourcesDocument(v.SOURCES_FILE ?? '') : inlineDocument(v.SOURCES ?? '');
        const origin = variable === 'SOURCES_FILE' ? `SOURCES_FILE (${v.SOURCES_FILE})` : 'SOURCES';
        return { origin, sources: parseSources(document, defaults) };
      } catch (error) {
        if (error instanceof SourcesError) throw new ConfigError(variable, error.message);
        throw error;
      }
    }),
  };
}
