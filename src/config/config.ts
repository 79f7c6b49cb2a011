/**
 * The settings, in sections, each in its own file with its variables and its
 * rules: aws, clamd, queues, source, tuning, metrics, log. The worker loads them
 * all at once (`loadConfig`: a worker never starts half-configured); a one-off
 * command reads only the sections it uses (`commandSettings`).
 */
import type { ServiceConnection } from '../aws/clients.ts';
import type { QueueRef } from '../aws/queue.ts';
import type { SourceSettings } from '../pipeline/deps.ts';
import { AWS_VARIABLES, awsSettings, serviceConnection, type AwsSettings } from './aws.ts';
import { CLAMD_VARIABLES, clamdSettings, type ClamdSettings } from './clamd.ts';
import type { Env } from './env-file.ts';
import { LOG_VARIABLES, logSettings, type LogSettings } from './log.ts';
import { HEALTH_VARIABLES, METRICS_VARIABLES, metricsSettings, type MetricsSettings } from './metrics.ts';
import {
  INBOUND_QUEUE_VARIABLES,
  inboundQueue,
  QUEUE_VARIABLES,
  queueSettings,
  RESCAN_QUEUE_VARIABLES,
  rescanQueue,
  type QueueSettings,
} from './queues.ts';
import {
  QUARANTINE_VARIABLES,
  quarantineLocation,
  SOURCES_FILE_VARIABLES,
  sourceSettings,
  STATUS_TAG_VARIABLES,
  statusTag,
  UNPROCESSED_VARIABLES,
  unprocessedLocation,
  type Location,
} from './source.ts';
import { parseSources, readSourcesFile, SourcesError, type Source } from './sources.ts';
import { TUNING_VARIABLES, tuningSettings, type TuningSettings } from './tuning.ts';
import { ConfigError, parseVariables } from './variables.ts';

export interface Config {
  aws: AwsSettings;
  clamd: ClamdSettings;
  queues: QueueSettings;
  /** The bucket scanned and where its bad files go (one source today). */
  source: SourceSettings;
  tuning: TuningSettings;
  metrics: MetricsSettings;
  log: LogSettings;
}

/** Every variable the worker reads, in the order a problem is reported (docs/configuration.md documents each). */
const WORKER_VARIABLES = {
  ...UNPROCESSED_VARIABLES,
  ...QUARANTINE_VARIABLES,
  ...QUEUE_VARIABLES,
  ...AWS_VARIABLES,
  ...CLAMD_VARIABLES,
  ...TUNING_VARIABLES,
  ...HEALTH_VARIABLES,
  ...METRICS_VARIABLES,
  ...STATUS_TAG_VARIABLES,
  ...LOG_VARIABLES,
};

export const VARIABLES: readonly string[] = Object.keys(WORKER_VARIABLES);

/** Validates the whole environment up front, each variable once, so a worker never starts half-configured. */
export function loadConfig(env: Env): Config {
  const v = parseVariables(env, WORKER_VARIABLES);
  const queues = queueSettings(v);
  return {
    aws: awsSettings(v, queues.topicArn),
    clamd: clamdSettings(v, env),
    queues,
    source: sourceSettings(v),
    tuning: tuningSettings(v),
    metrics: metricsSettings(v),
    log: logSettings(v),
  };
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
  /** RESCAN_QUEUE; undefined when it is not set. */
  rescanQueue(): QueueRef | undefined;
  /** SCAN_STATUS_TAG: the tag key, or undefined when tagging is off. */
  statusTag(): string | undefined;
  /** CONCURRENCY, RECEIVE_AHEAD and the rest of the tuning section. */
  tuning(): TuningSettings;
  /**
   * The sources: SOURCES_FILE read and checked, or SOURCES, the same document
   * inline (a deployment's task has no file to give); a bad one is a ConfigError
   * naming the variable, the entry and the field. undefined when neither is set,
   * and the single-bucket variables describe the one source.
   */
  sources(): Promise<SourcesFile | undefined>;
}

export interface SourcesFile {
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
    rescanQueue: once(() => rescanQueue(parseVariables(env, RESCAN_QUEUE_VARIABLES))),
    statusTag: once(() => statusTag(parseVariables(env, STATUS_TAG_VARIABLES))),
    tuning: once(() => tuningSettings(parseVariables(env, TUNING_VARIABLES))),
    sources: once(async () => {
      const { SOURCES_FILE: path, SOURCES: inline } = parseVariables(env, SOURCES_FILE_VARIABLES);
      if (path !== undefined && inline !== undefined) throw new ConfigError('SOURCES', 'and SOURCES_FILE are both set: set one of them');
      const variable = path !== undefined ? 'SOURCES_FILE' : 'SOURCES';
      try {
        if (path !== undefined) return { origin: `SOURCES_FILE (${path})`, sources: await readSourcesFile(path) };
        if (inline !== undefined) return { origin: 'SOURCES', sources: parseInlineSources(inline) };
        return undefined;
      } catch (error) {
        if (error instanceof SourcesError) throw new ConfigError(variable, error.message);
        throw error;
      }
    }),
  };
}

/** SOURCES: the sources document as JSON text. */
function parseInlineSources(text: string): Source[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new SourcesError(`is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  return parseSources(document);
}
