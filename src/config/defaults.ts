/**
 * The worker's defaults, in one place: src/config/config.ts falls back to them when
 * a variable is unset, and deploy/ builds task definitions from them (through
 * worker-environment.ts), so a deployment never restates a default as a literal.
 * deploy/ (its own npm package) imports it: it imports nothing but the verdict vocabulary.
 */

/** SCAN_STATUS_TAG's default, spelled once with the verdict's other external words. */
export { DEFAULT_STATUS_TAG } from '../verdict/verdict.ts';

export const DEFAULTS = {
  /** CLAMD_HOST / CLAMD_PORT */
  clamdHost: '127.0.0.1',
  clamdPort: 3310,
  /** CLAMD_CONNECT_TIMEOUT, CLAMD_TIMEOUT (seconds) */
  clamdConnectTimeoutSeconds: 5,
  clamdTimeoutSeconds: 120,
  /** MAX_FILE_SIZE (MiB) */
  maxFileSizeMb: 100,
  /** CONCURRENCY: from the latency-mode sweep (docs/benchmarks.md). */
  concurrency: 8,
  /** VISIBILITY_TIMEOUT, RECEIVE_WAIT_TIME, SHUTDOWN_TIMEOUT, RETRY_DELAY (seconds) */
  visibilityTimeoutSeconds: 120,
  receiveWaitSeconds: 20,
  shutdownTimeoutSeconds: 25,
  retryDelaySeconds: 15,
  /** MULTIPART_COPY_THRESHOLD (MiB): S3 copies at most 5 GiB in one request. */
  multipartCopyThresholdMb: 5120,
  /** UNSCANNABLE_ACTION */
  unscannableAction: 'quarantine',
  /** METRICS, METRICS_NAMESPACE */
  metrics: 'prometheus',
  metricsNamespace: 'bucketscan',
  /** LOG_LEVEL */
  logLevel: 'info',
  /** MAX_DEFINITIONS_AGE (hours), STALE_DEFINITIONS */
  maxDefinitionsAgeHours: 48,
  staleDefinitions: 'warn',
} as const;
