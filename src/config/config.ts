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
import { INBOUND_QUEUE_VARIABLES, inboundQueue, QUEUE_VARIABLES, queueSettings, type QueueSettings } from './queues.ts';
import {
  QUARANTINE_VARIABLES,
  quarantineLocation,
  sourceSettings,
  STATUS_TAG_VARIABLES,
  UNPROCESSED_VARIABLES,
  unprocessedLocation,
  type Location,
} from './source.ts';
import { TUNING_VARIABLES, tuningSettings, type TuningSettings } from './tuning.ts';
import { parseVariables } from './variables.ts';

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
  };
}
