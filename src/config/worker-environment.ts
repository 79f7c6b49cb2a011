/**
 * The worker's environment as a deployment writes it: one typed builder, so that a
 * task definition (deploy/lib) names every variable the way src/config/config.ts
 * reads it and takes every default from src/config/defaults.ts. Unit tests load the
 * result with loadConfig, so a renamed variable or a changed default cannot drift.
 *
 * Self-contained on purpose: deploy/ imports it. Numbers go through `format`, so a
 * CDK token (a template parameter) can stand for one.
 */
import { DEFAULT_STATUS_TAG, DEFAULTS } from './defaults.ts';

export interface WorkerEnvironmentSettings {
  region: string;
  unprocessedBucket: string;
  quarantineBucket: string;
  unprocessedPrefix?: string;
  quarantinePrefix?: string;
  inboundQueueUrl: string;
  validationQueueUrl: string;
  topicArn: string;
  /** clamd over TCP (the sidecar on the task's loopback by default). */
  clamdHost?: string;
  clamdPort?: number;
  maxFileSizeMb?: number;
  concurrency?: number;
  /** RECEIVE_AHEAD; default: as many as CONCURRENCY (the worker's own rule). */
  receiveAhead?: number;
  visibilityTimeoutSeconds?: number;
  shutdownTimeoutSeconds?: number;
  unscannableAction?: 'quarantine' | 'forward';
  /** HEALTH_PORT; 0 or absent: no health server. */
  healthPort?: number;
  logLevel?: string;
  /** SCAN_STATUS_TAG; '' turns tagging off. */
  statusTag?: string;
  /** STATUS_TAG_STYLE: the status tag in bucketscan's words (the default) or GuardDuty's. */
  statusTagStyle?: 'bucketscan' | 'guardduty';
  metrics?: 'prometheus' | 'emf' | 'off';
  metricsNamespace?: string;
  maxDefinitionsAgeHours?: number;
  staleDefinitions?: 'warn' | 'pause';
  /** SOURCES: the sources document as JSON text (several buckets, issue 14); absent: the single-bucket variables alone. */
  sources?: string;
  /** RESCAN_QUEUE: the queue `bucketscan rescan` fills, which the worker reads with the capacity uploads leave free. */
  rescanQueueUrl?: string;
  /** RESULT_EVENT_BUS: the EventBridge bus (name or ARN) that gets one result event per verdict. */
  resultEventBus?: string;
}

/**
 * Variables written only when their setting is given: those of several sources,
 * the backfill lane and result events (issue 14), which the worker reads once its
 * side of that issue is in.
 */
export const OPTIONAL_WORKER_ENVIRONMENT_VARIABLES = ['SOURCES', 'RESCAN_QUEUE', 'RESULT_EVENT_BUS', 'STATUS_TAG_STYLE'] as const;

/** The variables the builder writes, each one that config.ts reads. */
export const WORKER_ENVIRONMENT_VARIABLES = [
  'BUCKETSCAN_ENV_FILE',
  'AWS_REGION',
  'UNPROCESSED_BUCKET_NAME',
  'QUARANTINE_BUCKET_NAME',
  'UNPROCESSED_PREFIX',
  'QUARANTINE_PREFIX',
  'VIRUS_SCANNING_QUEUE_URL',
  'VALIDATION_QUEUE_URL',
  'VIRUS_NOTIFICATION_TOPIC_ARN',
  'CLAMD_HOST',
  'CLAMD_PORT',
  'MAX_FILE_SIZE',
  'CONCURRENCY',
  'RECEIVE_AHEAD',
  'VISIBILITY_TIMEOUT',
  'SHUTDOWN_TIMEOUT',
  'UNSCANNABLE_ACTION',
  'HEALTH_PORT',
  'LOG_LEVEL',
  'SCAN_STATUS_TAG',
  'METRICS',
  'METRICS_NAMESPACE',
  'MAX_DEFINITIONS_AGE',
  'STALE_DEFINITIONS',
] as const;

export type WorkerVariable = (typeof WORKER_ENVIRONMENT_VARIABLES)[number];

/** The number of messages a worker may hold at once beyond its scans (RECEIVE_AHEAD's default rule). */
export function receiveAheadFor(concurrency: number, receiveAhead: number | undefined): number {
  return receiveAhead ?? concurrency;
}

/**
 * Every variable, defaults filled in. `format` turns a number into its text
 * (default String; deploy/ passes one that keeps CDK tokens).
 */
export function workerEnvironment(
  settings: WorkerEnvironmentSettings,
  format: (value: number) => string = String,
): Record<WorkerVariable, string> & Partial<Record<(typeof OPTIONAL_WORKER_ENVIRONMENT_VARIABLES)[number], string>> {
  const concurrency = settings.concurrency ?? DEFAULTS.concurrency;
  const optional = (value: string | undefined, fallback: string) => (value === undefined ? fallback : value);
  return {
    // Settings come from the environment only, never from a file in the image.
    BUCKETSCAN_ENV_FILE: 'none',
    AWS_REGION: settings.region,
    UNPROCESSED_BUCKET_NAME: settings.unprocessedBucket,
    QUARANTINE_BUCKET_NAME: settings.quarantineBucket,
    UNPROCESSED_PREFIX: settings.unprocessedPrefix ?? '',
    QUARANTINE_PREFIX: settings.quarantinePrefix ?? '',
    VIRUS_SCANNING_QUEUE_URL: settings.inboundQueueUrl,
    VALIDATION_QUEUE_URL: settings.validationQueueUrl,
    VIRUS_NOTIFICATION_TOPIC_ARN: settings.topicArn,
    CLAMD_HOST: settings.clamdHost ?? DEFAULTS.clamdHost,
    CLAMD_PORT: format(settings.clamdPort ?? DEFAULTS.clamdPort),
    MAX_FILE_SIZE: format(settings.maxFileSizeMb ?? DEFAULTS.maxFileSizeMb),
    CONCURRENCY: format(concurrency),
    RECEIVE_AHEAD: format(receiveAheadFor(concurrency, settings.receiveAhead)),
    VISIBILITY_TIMEOUT: format(settings.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds),
    SHUTDOWN_TIMEOUT: format(settings.shutdownTimeoutSeconds ?? DEFAULTS.shutdownTimeoutSeconds),
    UNSCANNABLE_ACTION: settings.unscannableAction ?? DEFAULTS.unscannableAction,
    HEALTH_PORT: format(settings.healthPort ?? 0),
    LOG_LEVEL: optional(settings.logLevel, DEFAULTS.logLevel),
    SCAN_STATUS_TAG: optional(settings.statusTag, DEFAULT_STATUS_TAG),
    METRICS: settings.metrics ?? DEFAULTS.metrics,
    METRICS_NAMESPACE: optional(settings.metricsNamespace, DEFAULTS.metricsNamespace),
    MAX_DEFINITIONS_AGE: format(settings.maxDefinitionsAgeHours ?? DEFAULTS.maxDefinitionsAgeHours),
    STALE_DEFINITIONS: settings.staleDefinitions ?? DEFAULTS.staleDefinitions,
    ...(settings.sources === undefined ? {} : { SOURCES: settings.sources }),
    ...(settings.rescanQueueUrl === undefined ? {} : { RESCAN_QUEUE: settings.rescanQueueUrl }),
    ...(settings.resultEventBus === undefined ? {} : { RESULT_EVENT_BUS: settings.resultEventBus }),
    ...(settings.statusTagStyle === undefined ? {} : { STATUS_TAG_STYLE: settings.statusTagStyle }),
  };
}
