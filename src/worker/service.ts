import type { Config, QueueRef } from '../config/config.ts';
import { ConfigError } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { createClients } from '../aws/clients.ts';
import { errorMessage, isAccessProblem, isQueueMissing } from '../aws/errors.ts';
import {
  changeVisibility,
  createQueueBatchers,
  maxReceiveCountOf,
  originOf,
  receiveCountOf,
  receiveMessages,
  resolveQueueUrl,
} from '../aws/queue.ts';
import { createEmfMetrics, createPrometheusMetrics, type Gauges, type Metrics } from '../metrics/metrics.ts';
import type { OutcomeEvent, OutcomeListener } from '../pipeline/outcome.ts';
import { startFreshnessMonitor, type FreshnessMonitor } from '../scan/freshness.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ClamdClient, ClamdError } from '../scan/clamd-client.ts';
import { cachedEngine } from '../scan/engine-cache.ts';
import { describeAddress, waitForClamd } from '../scan/wait-ready.ts';
import { processMessage } from '../pipeline/process-message.ts';
import type { PipelineDeps } from '../pipeline/process-record.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from './worker.ts';
import { backoffSeconds } from './backoff.ts';
import { startHealthServer } from './health.ts';

/** Failures that say clamd itself is unreachable, as opposed to one file's trouble. */
function isClamdOutage(error: unknown): boolean {
  return error instanceof ClamdError && (error.kind === 'connect' || error.kind === 'closed' || error.kind === 'timeout');
}

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
  for (let attempt = 1; !signal.aborted; attempt += 1) {
    try {
      return await resolveQueueUrl(sqs, queue, signal);
    } catch (error) {
      if (isQueueMissing(error)) {
        throw new ConfigError(variable, `queue "${'name' in queue ? queue.name : queue.url}" does not exist`);
      }
      if (signal.aborted) break;
      // Credentials and permissions do not fix themselves; say so at once.
      if (isAccessProblem(error)) throw error;
      const wait = backoffSeconds(attempt, 1, 30);
      logger.warn({ queue: variable, attempt, error: errorMessage(error), retryInSeconds: wait }, 'could not look up the queue; retrying');
      await delay(wait * 1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return undefined;
}

export interface RunOptions {
  /** Every outcome event, as the metrics see it (tests). */
  onOutcome?: OutcomeListener;
}

/** METRICS: prometheus only where something serves it (HEALTH_PORT). */
async function createMetrics(config: Config, gauges: Gauges): Promise<Metrics | undefined> {
  if (config.metrics === 'emf') {
    return createEmfMetrics({
      namespace: config.metricsNamespace,
      intervalMs: 60_000,
      gauges,
      write: (line) => process.stdout.write(line),
    });
  }
  if (config.metrics === 'prometheus' && config.healthPort) return createPrometheusMetrics(gauges);
  return undefined;
}

/**
 * Runs the worker until `signal` aborts, then shuts down gracefully. Resolves once
 * every message in work is settled and the clients are closed.
 */
export async function runWorker(config: Config, logger: Logger, signal: AbortSignal, options: RunOptions = {}): Promise<void> {
  let phase: 'starting' | 'waiting-for-clamd' | 'running' | 'stopped' = 'starting';
  let worker: Worker | undefined;
  let freshness: FreshnessMonitor | undefined;
  const gauges: Gauges = {
    inFlight: () => worker?.inFlight ?? 0,
    clamdUp: () => (phase === 'running' && worker ? worker.dependencyUp : phase === 'waiting-for-clamd' ? false : undefined),
    definitionsAgeSeconds: () => freshness?.state().ageSeconds ?? undefined,
  };
  const metrics = await createMetrics(config, gauges);
  const clients = createClients(config, (service, operation) => metrics?.awsError(service, operation));
  const health = config.healthPort
    ? await startHealthServer(
        config.healthPort,
        () => {
          const definitions = freshness?.state();
          const paused = definitions?.pause === true;
          return {
            ready: phase === 'running' && worker?.ready === true,
            detail: {
              phase,
              clamd: phase === 'running' && worker && !worker.dependencyUp ? 'unavailable' : undefined,
              paused: paused ? 'stale definitions (STALE_DEFINITIONS=pause)' : undefined,
              inFlight: worker?.inFlight ?? 0,
              ...(definitions
                ? {
                    definitions: {
                      status: definitions.status,
                      ageSeconds: definitions.ageSeconds,
                      databaseVersion: definitions.databaseVersion,
                      databaseDate: definitions.databaseDate,
                      detail: definitions.detail,
                    },
                  }
                : {}),
            },
          };
        },
        logger,
        metrics?.render?.bind(metrics),
      )
    : undefined;
  const onOutcome = (event: OutcomeEvent) => {
    metrics?.observe(event);
    options.onOutcome?.(event);
  };
  try {
    const clamd = new ClamdClient({
      address: config.clamd.address,
      connectTimeoutMs: config.clamd.connectTimeoutMs,
      idleTimeoutMs: config.clamd.idleTimeoutMs,
      maxStreamBytes: config.maxFileSizeBytes,
      // Kept IDSESSION connections: no TCP connect per file (docs/benchmarks.md, "Worker CPU").
      sessions: true,
    });
    const inboundUrl = await queueUrl(clients.sqs, config.inboundQueue, 'VIRUS_SCANNING_QUEUE_NAME', logger, signal);
    const validationUrl = await queueUrl(clients.sqs, config.validationQueue, 'VALIDATION_QUEUE_NAME', logger, signal);
    if (inboundUrl === undefined || validationUrl === undefined) return;

    phase = 'waiting-for-clamd';
    if (!(await waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, signal))) return;
    const engine = cachedEngine(() => clamd.version(), logger);
    const info = await engine();
    freshness = startFreshnessMonitor({
      readVersion: () => clamd.version(),
      maxAgeHours: config.maxDefinitionsAgeHours,
      mode: config.staleDefinitions,
      logger,
      onChange: () => worker?.recheck(),
    });
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
        concurrency: config.concurrency,
        maxFileSizeBytes: config.maxFileSizeBytes,
        maxReceiveCount,
        statusTag: config.statusTag ?? null,
        metrics: metrics ? config.metrics : 'off',
      },
      'worker started',
    );

    // Deletes can wait a little for company; forwards wait less, as someone downstream is waiting for them.
    const batchers = createQueueBatchers(clients.sqs, { inbound: inboundUrl, outbound: validationUrl }, { deleteMs: 50, sendMs: 10 });
    const deps: PipelineDeps = {
      s3: clients.s3,
      sns: clients.sns,
      forward: batchers.forward,
      scanner: clamd,
      engine,
      settings: {
        quarantineBucket: config.quarantineBucket,
        quarantinePrefix: config.quarantinePrefix,
        maxFileSizeBytes: config.maxFileSizeBytes,
        topicArn: config.topicArn,
        multipartCopyThresholdBytes: config.multipartCopyThresholdBytes,
        unscannableAction: config.unscannableAction,
        statusTag: config.statusTag,
      },
      now: () => new Date(),
    };
    const rules = { bucket: config.unprocessedBucket, prefix: config.unprocessedPrefix };
    worker = new Worker({
      queue: {
        receive: (max, receiveSignal) =>
          receiveMessages(clients.sqs, inboundUrl, {
            max,
            waitSeconds: config.receiveWaitSeconds,
            visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
            signal: receiveSignal,
          }),
        changeVisibility: (receiptHandle, seconds) => changeVisibility(clients.sqs, inboundUrl, receiptHandle, seconds),
        remove: batchers.delete,
      },
      concurrency: config.concurrency,
      receiveAhead: config.receiveAhead,
      visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
      shutdownTimeoutMs: config.shutdownTimeoutSeconds * 1000,
      retryDelaySeconds: config.retryDelaySeconds,
      logger,
      paused: () => freshness?.state().pause === true,
      outage: {
        isOutage: isClamdOutage,
        recovered: (outageSignal) => waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, outageSignal),
      },
      handle: (message, messageSignal, scanned) =>
        processMessage(
          {
            messageId: message.MessageId,
            body: message.Body,
            receiveCount: receiveCountOf(message),
            origin: originOf(message),
            ...(maxReceiveCount === undefined ? {} : { maxReceiveCount }),
          },
          rules,
          deps,
          logger,
          messageSignal,
          scanned,
          onOutcome,
        ).catch((error: unknown) => ({ action: 'retry' as const, error })),
    });
    const running = worker;
    const stop = () => void running.stop();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    phase = 'running';
    await running.start();
    await running.stop();
    await batchers.drain();
    logger.info('worker stopped');
  } finally {
    phase = 'stopped';
    freshness?.stop();
    metrics?.stop();
    clients.destroy();
    health?.close();
  }
}
