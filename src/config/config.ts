import { z } from 'zod';
import type { ClamdAddress } from '../scan/clamd-client.ts';
import type { Env } from './env-file.ts';
import { DEFAULT_STATUS_TAG, DEFAULTS } from './defaults.ts';
import { STALE_DEFINITIONS_MODES, type StaleDefinitionsMode } from '../scan/freshness.ts';
import { LOG_FORMATS, type LogFormatSetting } from '../log/pretty.ts';

/** A bad setting, named by the variable a user has to fix. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export type QueueRef = { url: string } | { name: string };

export interface ServiceConnection {
  region: string;
  endpoint: string | undefined;
  /** Absent: the SDK's default credential chain (env, profile, ECS/EC2 role…). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

export interface Config {
  unprocessedBucket: string;
  quarantineBucket: string;
  unprocessedPrefix: string;
  quarantinePrefix: string;
  inboundQueue: QueueRef;
  validationQueue: QueueRef;
  topicArn: string;
  aws: { s3: ServiceConnection; sqs: ServiceConnection; sns: ServiceConnection };
  clamd: {
    address: ClamdAddress;
    /** True when any CLAMD_* variable was set: the local stack then uses that clamd instead of starting one. */
    explicit: boolean;
    connectTimeoutMs: number;
    idleTimeoutMs: number;
  };
  maxFileSizeBytes: number;
  /** What happens to a file clamd could not fully scan (UNSCANNABLE): quarantined, or forwarded marked as such. */
  unscannableAction: 'quarantine' | 'forward';
  concurrency: number;
  /** Messages received ahead of a free slot (RECEIVE_AHEAD). */
  receiveAhead: number;
  visibilityTimeoutSeconds: number;
  receiveWaitSeconds: number;
  shutdownTimeoutSeconds: number;
  /** First delay before a failed message is retried; it doubles with each receive, up to the visibility timeout. */
  retryDelaySeconds: number;
  /** Objects above this are quarantined with a multipart copy (S3 copies at most 5 GiB at once). */
  multipartCopyThresholdBytes: number;
  /** METRICS: Prometheus text on /metrics (needs HEALTH_PORT), CloudWatch EMF lines on stdout, or none. */
  metrics: 'prometheus' | 'emf' | 'off';
  /** METRICS_NAMESPACE: the CloudWatch namespace of EMF metrics. */
  metricsNamespace: string;
  /** MAX_DEFINITIONS_AGE, in hours: older definitions are stale. */
  maxDefinitionsAgeHours: number;
  /** STALE_DEFINITIONS: keep scanning (warn) or stop taking messages (pause) while stale. */
  staleDefinitions: StaleDefinitionsMode;
  logFormat: LogFormatSetting;
  /** SCAN_STATUS_TAG: the tag key for the scan status; undefined: no tagging. */
  statusTag: string | undefined;
  /** TCP port of the /healthz and /readyz endpoints; undefined: none. */
  healthPort: number | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export const MEGABYTE = 1024 * 1024;

// clamd clamps MaxFileSize to just under 2 GiB and flags anything larger as a
// limit hit, so nothing larger can ever be scanned in full.
const MAX_SCANNABLE_MB = 2047;

const text = z.string().trim().min(1, 'must not be empty');
const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value ? value : undefined));

/** S3's rule for bucket names (general purpose buckets). */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const bucketName = text.regex(BUCKET_NAME, 'must be an S3 bucket name (3-63 characters: lowercase letters, digits, dots and hyphens)');

const queueName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/, 'must be an SQS queue name (1-80 letters, digits, hyphens or underscores)')
  .optional()
  .or(z.literal('').transform(() => undefined));

const url = (what: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value : undefined))
    .refine((value) => value === undefined || /^https?:\/\/[^\s/]+/.test(value), `must be an http(s) URL ${what}`);

const integer = (fallback: number, min: number, max: number, unit: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (!/^\d+$/.test(value)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number of ${unit}, got "${value}"` });
        return z.NEVER;
      }
      const parsed = Number(value);
      if (parsed < min || parsed > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max} ${unit}, got ${value}` });
        return z.NEVER;
      }
      return parsed;
    });

const megabytes = z
  .string()
  .trim()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return DEFAULTS.maxFileSizeMb;
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > MAX_SCANNABLE_MB) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a number of megabytes above 0 and at most ${MAX_SCANNABLE_MB} (the most clamd scans in full), got "${value}"`,
      });
      return z.NEVER;
    }
    return Number(value);
  });

const topicArn = text.regex(
  /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/,
  'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)',
);

const prefix = z
  .string()
  .optional()
  .transform((value) => {
    // "incoming" and "incoming/" mean the same folder; S3 keys never start with a slash.
    const trimmed = (value ?? '').trim().replace(/^\/+/, '');
    return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
  });

const logLevel = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value ? value.toLowerCase() : DEFAULTS.logLevel))
  .pipe(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    }),
  );

const unscannableAction = z
  .string()
  .trim()
  .optional()
  .transform((value, ctx) => {
    const action = value ? value.toLowerCase() : DEFAULTS.unscannableAction;
    if (action === 'quarantine' || action === 'forward') return action;
    ctx.addIssue({ code: 'custom', message: `must be quarantine or forward, got "${value}"` });
    return z.NEVER;
  });

const schema = z.object({
  UNPROCESSED_BUCKET_NAME: bucketName,
  QUARANTINE_BUCKET_NAME: bucketName,
  UNPROCESSED_PREFIX: prefix,
  QUARANTINE_PREFIX: prefix,
  VIRUS_SCANNING_QUEUE_NAME: queueName,
  VIRUS_SCANNING_QUEUE_URL: url('(the inbound queue URL)'),
  VALIDATION_QUEUE_NAME: queueName,
  VALIDATION_QUEUE_URL: url('(the outbound queue URL)'),
  VIRUS_NOTIFICATION_TOPIC_ARN: topicArn,
  AWS_REGION: optionalText,
  AWS_DEFAULT_REGION: optionalText,
  AWS_ENDPOINT_URL: url('such as http://127.0.0.1:4566'),
  AWS_S3_ENDPOINT_URL: url('such as http://127.0.0.1:4566'),
  AWS_SQS_ENDPOINT_URL: url('such as http://127.0.0.1:4566'),
  AWS_SNS_ENDPOINT_URL: url('such as http://127.0.0.1:4566'),
  AWS_S3_REGION: optionalText,
  AWS_SQS_REGION: optionalText,
  AWS_SNS_REGION: optionalText,
  AWS_ACCESS_KEY_ID: optionalText,
  AWS_SECRET_ACCESS_KEY: optionalText,
  AWS_SESSION_TOKEN: optionalText,
  AWS_S3_ACCESS_KEY_ID: optionalText,
  AWS_S3_SECRET_ACCESS_KEY: optionalText,
  AWS_SQS_ACCESS_KEY_ID: optionalText,
  AWS_SQS_SECRET_ACCESS_KEY: optionalText,
  AWS_SNS_ACCESS_KEY_ID: optionalText,
  AWS_SNS_SECRET_ACCESS_KEY: optionalText,
  CLAMD_HOST: optionalText,
  CLAMD_PORT: integer(DEFAULTS.clamdPort, 1, 65535, 'port'),
  CLAMD_SOCKET: optionalText,
  CLAMD_CONNECT_TIMEOUT: integer(DEFAULTS.clamdConnectTimeoutSeconds, 1, 600, 'seconds'),
  CLAMD_TIMEOUT: integer(DEFAULTS.clamdTimeoutSeconds, 1, 3600, 'seconds'),
  MAX_FILE_SIZE: megabytes,
  UNSCANNABLE_ACTION: unscannableAction,
  // Defaults from the latency-mode sweep (docs/benchmarks.md).
  CONCURRENCY: integer(DEFAULTS.concurrency, 1, 256, 'messages'),
  // Unset: as many as CONCURRENCY (told apart in loadConfig).
  RECEIVE_AHEAD: integer(-1, 0, 256, 'messages'),
  VISIBILITY_TIMEOUT: integer(DEFAULTS.visibilityTimeoutSeconds, 10, 43200, 'seconds'),
  RECEIVE_WAIT_TIME: integer(DEFAULTS.receiveWaitSeconds, 0, 20, 'seconds'),
  SHUTDOWN_TIMEOUT: integer(DEFAULTS.shutdownTimeoutSeconds, 1, 3600, 'seconds'),
  MULTIPART_COPY_THRESHOLD: integer(DEFAULTS.multipartCopyThresholdMb, 5, 5120, 'megabytes'),
  RETRY_DELAY: integer(DEFAULTS.retryDelaySeconds, 0, 43200, 'seconds'),
  HEALTH_PORT: integer(0, 0, 65535, 'port'),
  MAX_DEFINITIONS_AGE: z
    .string()
    .trim()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return DEFAULTS.maxDefinitionsAgeHours;
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a number of hours above 0, got "${value}"` });
        return z.NEVER;
      }
      return Number(value);
    }),
  STALE_DEFINITIONS: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value.toLowerCase() : DEFAULTS.staleDefinitions))
    .pipe(z.enum(STALE_DEFINITIONS_MODES, { error: 'must be warn or pause' })),
  LOG_FORMAT: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value.toLowerCase() : 'auto'))
    .pipe(z.enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })),
  METRICS: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value.toLowerCase() : DEFAULTS.metrics))
    .pipe(z.enum(['prometheus', 'emf', 'off'], { error: 'must be prometheus, emf or off' })),
  METRICS_NAMESPACE: text
    .regex(/^[A-Za-z0-9 ._\-/#:]{1,255}$/, 'must be a CloudWatch namespace (1-255 letters, digits, spaces and . _ - / # :)')
    .optional(),
  // Unset: the default key; set but empty: no tagging (told apart in loadConfig).
  SCAN_STATUS_TAG: z
    .string()
    .trim()
    .regex(
      /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,128}$/u,
      'must be an S3 tag key (at most 128 letters, digits, spaces and _ . : / = + - @), or empty to turn tagging off',
    )
    .optional(),
  LOG_LEVEL: logLevel,
});

type Parsed = z.output<typeof schema>;

/** Every variable the worker reads (the README's configuration table documents each). */
export const VARIABLES: readonly string[] = Object.keys(schema.shape);

function firstIssue(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  const variable = String(issue?.path[0] ?? 'configuration');
  const problem = issue?.code === 'invalid_type' ? 'is required but not set' : (issue?.message ?? 'is invalid');
  return new ConfigError(variable, problem);
}

// Read here rather than left to the SDK so that keys in the .env file count too.
function sharedCredentials(parsed: Parsed): ServiceConnection['credentials'] {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = parsed;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId) throw new ConfigError('AWS_ACCESS_KEY_ID', 'is required when AWS_SECRET_ACCESS_KEY is set');
  if (!secretAccessKey) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'is required when AWS_ACCESS_KEY_ID is set');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

function credentialsFor(service: 'S3' | 'SQS' | 'SNS', parsed: Parsed): ServiceConnection['credentials'] {
  const idName = `AWS_${service}_ACCESS_KEY_ID` as const;
  const secretName = `AWS_${service}_SECRET_ACCESS_KEY` as const;
  const accessKeyId = parsed[idName];
  const secretAccessKey = parsed[secretName];
  if (!accessKeyId && !secretAccessKey) return sharedCredentials(parsed);
  if (!accessKeyId) throw new ConfigError(idName, `is required when ${secretName} is set`);
  if (!secretAccessKey) throw new ConfigError(secretName, `is required when ${idName} is set`);
  return { accessKeyId, secretAccessKey };
}

function queueRef(nameVar: string, urlVar: string, name: string | undefined, address: string | undefined): QueueRef {
  if (address) return { url: address };
  if (name) return { name };
  throw new ConfigError(nameVar, `is required but not set (or set ${urlVar})`);
}

/**
 * The settings a one-off command (scan, rescan, dlq, policy) may need, from the
 * same environment as the worker's, without requiring what it does not use: a
 * command that scans a local file needs no bucket or queue. Each getter throws
 * the worker's own ConfigError for a bad or missing value, when first asked.
 */
export interface CommandSettings {
  clamd(): Config['clamd'];
  maxFileSizeBytes(): number;
  aws(service: 's3' | 'sqs' | 'sns'): ServiceConnection;
  unprocessedBucket(): string;
  unprocessedPrefix(): string;
  quarantineBucket(): string;
  quarantinePrefix(): string;
  inboundQueue(): QueueRef;
  validationQueue(): QueueRef;
  logLevel(): Config['logLevel'];
}

export function loadCommandSettings(env: Env): CommandSettings {
  const parsed = schema.partial().safeParse(env);
  if (!parsed.success) throw firstIssue(parsed.error);
  const p = parsed.data;
  const required = <T>(variable: string, value: T | undefined): T => {
    if (value === undefined) throw new ConfigError(variable, 'is required but not set');
    return value;
  };
  // The worker's own loader with stand-ins for what this command does not use, so
  // every rule (regions, credentials, clamd address) stays in one place.
  const STAND_INS: Env = {
    UNPROCESSED_BUCKET_NAME: 'unused-unprocessed',
    QUARANTINE_BUCKET_NAME: 'unused-quarantine',
    VIRUS_SCANNING_QUEUE_NAME: 'unused',
    VALIDATION_QUEUE_NAME: 'unused',
    VIRUS_NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:unused',
  };
  const present: Env = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const full = () => loadConfig({ ...STAND_INS, ...present });
  // clamd and the size limit owe nothing to AWS: read without any AWS_* variable, so
  // a command that only scans local files needs no region and no credentials.
  const withoutAws = () =>
    loadConfig({
      ...STAND_INS,
      ...Object.fromEntries(Object.entries(present).filter(([name]) => !name.startsWith('AWS_'))),
      AWS_REGION: 'unused',
    });
  return {
    clamd: () => withoutAws().clamd,
    maxFileSizeBytes: () => withoutAws().maxFileSizeBytes,
    aws: (service) => full().aws[service],
    unprocessedBucket: () => required('UNPROCESSED_BUCKET_NAME', p.UNPROCESSED_BUCKET_NAME),
    unprocessedPrefix: () => p.UNPROCESSED_PREFIX ?? '',
    quarantineBucket: () => required('QUARANTINE_BUCKET_NAME', p.QUARANTINE_BUCKET_NAME),
    quarantinePrefix: () => p.QUARANTINE_PREFIX ?? '',
    inboundQueue: () =>
      queueRef('VIRUS_SCANNING_QUEUE_NAME', 'VIRUS_SCANNING_QUEUE_URL', p.VIRUS_SCANNING_QUEUE_NAME, p.VIRUS_SCANNING_QUEUE_URL),
    validationQueue: () => queueRef('VALIDATION_QUEUE_NAME', 'VALIDATION_QUEUE_URL', p.VALIDATION_QUEUE_NAME, p.VALIDATION_QUEUE_URL),
    logLevel: () => p.LOG_LEVEL ?? 'info',
  };
}

/** Validates the whole environment up front so a worker never starts half-configured. */
export function loadConfig(env: Env): Config {
  const result = schema.safeParse(env);
  if (!result.success) throw firstIssue(result.error);
  const p = result.data;

  const inboundQueue = queueRef(
    'VIRUS_SCANNING_QUEUE_NAME',
    'VIRUS_SCANNING_QUEUE_URL',
    p.VIRUS_SCANNING_QUEUE_NAME,
    p.VIRUS_SCANNING_QUEUE_URL,
  );
  const validationQueue = queueRef('VALIDATION_QUEUE_NAME', 'VALIDATION_QUEUE_URL', p.VALIDATION_QUEUE_NAME, p.VALIDATION_QUEUE_URL);

  const defaultRegion = p.AWS_REGION ?? p.AWS_DEFAULT_REGION;
  const topicRegion = p.VIRUS_NOTIFICATION_TOPIC_ARN.split(':')[3];
  // A topic can only be published to by a client of its own region, so its ARN outranks AWS_REGION.
  const region = (service: 'S3' | 'SQS' | 'SNS', preferred: string | undefined): string => {
    const value = p[`AWS_${service}_REGION`] ?? preferred ?? defaultRegion;
    if (!value) throw new ConfigError('AWS_REGION', `is required but not set (or set AWS_${service}_REGION)`);
    return value;
  };
  const connection = (service: 'S3' | 'SQS' | 'SNS', preferredRegion?: string): ServiceConnection => ({
    region: region(service, preferredRegion),
    endpoint: p[`AWS_${service}_ENDPOINT_URL`] ?? p.AWS_ENDPOINT_URL,
    credentials: credentialsFor(service, p),
  });

  if (p.CLAMD_SOCKET && p.CLAMD_HOST) {
    throw new ConfigError('CLAMD_SOCKET', 'cannot be combined with CLAMD_HOST: choose the unix socket or TCP');
  }
  const address: ClamdAddress = p.CLAMD_SOCKET
    ? { kind: 'socket', path: p.CLAMD_SOCKET }
    : { kind: 'tcp', host: p.CLAMD_HOST ?? DEFAULTS.clamdHost, port: p.CLAMD_PORT };
  const explicit = ['CLAMD_HOST', 'CLAMD_PORT', 'CLAMD_SOCKET'].some((name) => (env[name] ?? '').trim() !== '');

  if (p.UNPROCESSED_BUCKET_NAME === p.QUARANTINE_BUCKET_NAME && p.UNPROCESSED_PREFIX === p.QUARANTINE_PREFIX) {
    throw new ConfigError('QUARANTINE_BUCKET_NAME', 'must differ from UNPROCESSED_BUCKET_NAME (or set a distinct QUARANTINE_PREFIX)');
  }

  return {
    unprocessedBucket: p.UNPROCESSED_BUCKET_NAME,
    quarantineBucket: p.QUARANTINE_BUCKET_NAME,
    unprocessedPrefix: p.UNPROCESSED_PREFIX,
    quarantinePrefix: p.QUARANTINE_PREFIX,
    inboundQueue,
    validationQueue,
    topicArn: p.VIRUS_NOTIFICATION_TOPIC_ARN,
    aws: { s3: connection('S3'), sqs: connection('SQS'), sns: connection('SNS', topicRegion) },
    clamd: {
      address,
      explicit,
      connectTimeoutMs: p.CLAMD_CONNECT_TIMEOUT * 1000,
      idleTimeoutMs: p.CLAMD_TIMEOUT * 1000,
    },
    maxFileSizeBytes: Math.floor(p.MAX_FILE_SIZE * MEGABYTE),
    unscannableAction: p.UNSCANNABLE_ACTION,
    concurrency: p.CONCURRENCY,
    receiveAhead: p.RECEIVE_AHEAD === -1 ? p.CONCURRENCY : p.RECEIVE_AHEAD,
    visibilityTimeoutSeconds: p.VISIBILITY_TIMEOUT,
    receiveWaitSeconds: p.RECEIVE_WAIT_TIME,
    shutdownTimeoutSeconds: p.SHUTDOWN_TIMEOUT,
    multipartCopyThresholdBytes: p.MULTIPART_COPY_THRESHOLD * MEGABYTE,
    retryDelaySeconds: p.RETRY_DELAY,
    healthPort: p.HEALTH_PORT === 0 ? undefined : p.HEALTH_PORT,
    maxDefinitionsAgeHours: p.MAX_DEFINITIONS_AGE,
    staleDefinitions: p.STALE_DEFINITIONS,
    logFormat: p.LOG_FORMAT,
    metrics: p.METRICS,
    metricsNamespace: p.METRICS_NAMESPACE ?? DEFAULTS.metricsNamespace,
    statusTag: p.SCAN_STATUS_TAG === undefined ? DEFAULT_STATUS_TAG : p.SCAN_STATUS_TAG || undefined,
    logLevel: p.LOG_LEVEL,
  };
}
