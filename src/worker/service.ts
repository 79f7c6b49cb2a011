/**
 * The worker's life: metrics and health first, then the queues, clamd and the
 * definitions' freshness, then the poll loop (built in compose.ts) until the
 * signal, then a graceful stop. What is running is kept in one WorkerStatus,
 * from which /readyz and the gauges are computed (status.ts).
 */
import type { Config } from '../config/config.ts';
import type { MetricsSettings } from '../config/metrics.ts';
import { ConfigError } from '../config/variables.ts';
import type { Logger } from '../log/logger.ts';
import { createClients } from '../aws/clients.ts';
import { isAccessProblem, isQueueMissing } from '../aws/errors.ts';
import { createQueueBatchers, maxReceiveCountOf, resolveQueueUrl, type QueueRef } from '../aws/queue.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createEmfMetrics, createPrometheusMetrics, type Gauges, type Metrics } from '../metrics/metrics.ts';
import type { OutcomeEvent, OutcomeListener } from '../pipeline/outcome.ts';
import { ClamdClient } from '../scan/clamd-client.ts';
import { cachedEngine } from '../scan/engine-cache.ts';
import { startFreshnessMonitor } from '../scan/freshness.ts';
import { describeAddress, waitForClamd } from '../scan/wait-ready.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffSeconds, retryUntil } from '../shared/time.ts';
import { composeWorker } from './compose.ts';
import { startHealthServer } from './health.ts';
import { gauges, readiness, WorkerStatus } from './status.ts';
import { taskProtectionFromEnvironment } from './task-protection.ts';

/**
 * A queue that does not exist is a configuration error; anything else (SQS
 * throttling or unavailable while the worker starts) is waited out, as clamd is,
 * rather than crash-looping the worker. Undefined when `signal` aborts first.
 */
async function queueUrl(
  sqs: SQSClient,
  queue: QueueRef,
  variable: string,
  logger: Logger,
  signal: AbortSignal,
): Promise<string | undefined> {
  return retryUntil((attemptSignal) => resolveQueueUrl(sqs, queue, attemptSignal), {
    signal,
    delayMs: (attempt) => backoffSeconds(attempt, 1, 30) * 1000,
    check: (error) => {
      if (isQueueMissing(error)) {
        throw new ConfigError(variable, `queue "${'name' in queue ? queue.name : queue.url}" does not exist`);
      }
      // Credentials and permissions do not fix themselves; say so at once.
      if (isAccessProblem(error) && !signal.aborted) throw error;
    },
    onRetry: (error, attempt, delayMs) => {
      logger.warn(
        { queue: variable, attempt, error: errorMessage(error), retryInSeconds: delayMs / 1000 },
        'could not look up the queue; retrying',
      );
    },
  });
}

export interface RunOptions {
  /** Every outcome event, as the metrics see it (tests). */
  onOutcome?: OutcomeListener;
}

/** METRICS: prometheus only where something serves it (HEALTH_PORT). */
async function createMetrics(config: MetricsSettings, gauges: Gauges): Promise<Metrics | undefined> {
  if (config.mode === 'emf') {
    return createEmfMetrics({
      namespace: config.namespace,
      intervalMs: 60_000,
      gauges,
      write: (line) => process.stdout.write(line),
    });
  }
  if (config.mode === 'prometheus' && config.healthPort) return createPrometheusMetrics(gauges);
  return undefined;
}

/**
 * Runs the worker until `signal` aborts, then shuts down gracefully. Resolves once
 * every message in work is settled and the clients are closed.
 */
export async function runWorker(config: Config, logger: Logger, signal: AbortSignal, options: RunOptions = {}): Promise<void> {
  const status = new WorkerStatus();
  const snapshot = () => status.snapshot();
  const metrics = await createMetrics(config.metrics, gauges(snapshot));
  const clients = createClients(config, (service, operation) => metrics?.awsError(service, operation));
  const health = config.metrics.healthPort
    ? await startHealthServer(config.metrics.healthPort, () => readiness(snapshot()), logger, metrics?.render?.bind(metrics))
    : undefined;
  // On ECS: protected from scale-in while holding messages (ECS_AGENT_URI is set by ECS).
  const protection = taskProtectionFromEnvironment(process.env, logger);
  const onOutcome = (event: OutcomeEvent) => {
    metrics?.observe(event);
    options.onOutcome?.(event);
  };
  try {
    const clamd = new ClamdClient({
      address: config.clamd.address,
      connectTimeoutMs: config.clamd.connectTimeoutMs,
      idleTimeoutMs: config.clamd.idleTimeoutMs,
      maxStreamBytes: config.clamd.maxFileSizeBytes,
      // Kept IDSESSION connections: no TCP connect per file (docs/aws-requests.md).
      sessions: true,
    });
    const inboundUrl = await queueUrl(clients.sqs, config.queues.inbound, 'VIRUS_SCANNING_QUEUE_NAME', logger, signal);
    const validationUrl = await queueUrl(clients.sqs, config.queues.validation, 'VALIDATION_QUEUE_NAME', logger, signal);
    if (inboundUrl === undefined || validationUrl === undefined) return;

    status.phase = 'waiting-for-clamd';
    if (!(await waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, signal))) return;
    const engine = cachedEngine(() => clamd.version(), logger);
    const info = await engine();
    const freshness = startFreshnessMonitor({
      readVersion: () => clamd.version(),
      maxAgeHours: config.clamd.maxDefinitionsAgeHours,
      mode: config.clamd.staleDefinitions,
      logger,
      onChange: () => status.worker?.recheck(),
    });
    status.freshness = freshness;
    // In pause mode a worker must not start on stale definitions.
    await freshness.settled();
    const maxReceiveCount = await maxReceiveCountOf(clients.sqs, inboundUrl).catch((error: unknown) => {
      logger.warn(
        { error: errorMessage(error) },
        "could not read the inbound queue's redrive policy; the last receive before the dead-letter queue cannot be told",
      );
      return undefined;
    });
    logger.info(
      {
        clamd: describeAddress(config.clamd.address),
        engine: info?.raw,
        inboundQueue: inboundUrl,
        validationQueue: validationUrl,
        concurrency: config.tuning.concurrency,
        maxFileSizeBytes: config.clamd.maxFileSizeBytes,
        maxReceiveCount,
        statusTag: config.source.statusTag ?? null,
        metrics: metrics ? config.metrics.mode : 'off',
      },
      'worker started',
    );

    // Deletes can wait a little for company; forwards wait less, as someone downstream is waiting for them.
    const batchers = createQueueBatchers(clients.sqs, { inbound: inboundUrl, outbound: validationUrl }, { deleteMs: 50, sendMs: 10 });
    const worker = composeWorker(
      config,
      { clients, clamd, engine, batchers, inboundUrl, maxReceiveCount },
      { logger, paused: () => freshness.state().pause, onOutcome, onInFlight: protection && ((count) => protection.update(count)) },
    );
    status.worker = worker;
    const stop = () => void worker.stop();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    status.phase = 'running';
    await worker.start();
    await worker.stop();
    await batchers.drain();
    logger.info('worker stopped');
  } finally {
    status.phase = 'stopped';
    await protection?.stop();
    status.freshness?.stop();
    metrics?.stop();
    clients.destroy();
    health?.close();
  }
}
