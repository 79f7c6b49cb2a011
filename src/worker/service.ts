import type { Config, QueueRef } from '../config/config.ts';
import { ConfigError } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { createClients } from '../aws/clients.ts';
import { awsErrorInfo, errorMessage } from '../aws/errors.ts';
import { changeVisibility, createQueueBatchers, receiveCountOf, receiveMessages, resolveQueueUrl } from '../aws/queue.ts';
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
async function queueUrl(sqs: SQSClient, queue: QueueRef, variable: string, logger: Logger, signal: AbortSignal): Promise<string | undefined> {
  for (let attempt = 1; !signal.aborted; attempt += 1) {
    try {
      return await resolveQueueUrl(sqs, queue, signal);
    } catch (error) {
      const { code, status } = awsErrorInfo(error);
      if (code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue') {
        throw new ConfigError(variable, `queue "${'name' in queue ? queue.name : queue.url}" does not exist`);
      }
      if (signal.aborted) break;
      // Credentials and permissions do not fix themselves; say so at once.
      if (status === 403 || code === 'AccessDenied' || code === 'InvalidClientTokenId' || code === 'UnrecognizedClientException') throw error;
      const wait = backoffSeconds(attempt, 1, 30);
      logger.warn({ queue: variable, attempt, error: errorMessage(error), retryInSeconds: wait }, 'could not look up the queue; retrying');
      await delay(wait * 1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return undefined;
}

/**
 * Runs the worker until `signal` aborts, then shuts down gracefully. Resolves once
 * every message in work is settled and the clients are closed.
 */
export async function runWorker(config: Config, logger: Logger, signal: AbortSignal): Promise<void> {
  const clients = createClients(config);
  let phase: 'starting' | 'waiting-for-clamd' | 'running' | 'stopped' = 'starting';
  let worker: Worker | undefined;
  const health = config.healthPort
    ? await startHealthServer(
        config.healthPort,
        () => ({
          ready: phase === 'running' && worker?.ready === true,
          detail: { phase, clamd: phase === 'running' && worker && !worker.ready ? 'unavailable or stopping' : undefined, inFlight: worker?.inFlight ?? 0 },
        }),
        logger,
      )
    : undefined;
  try {
    const clamd = new ClamdClient({
      address: config.clamd.address,
      connectTimeoutMs: config.clamd.connectTimeoutMs,
      idleTimeoutMs: config.clamd.idleTimeoutMs,
      maxStreamBytes: config.maxFileSizeBytes,
    });
    const inboundUrl = await queueUrl(clients.sqs, config.inboundQueue, 'VIRUS_SCANNING_QUEUE_NAME', logger, signal);
    const validationUrl = await queueUrl(clients.sqs, config.validationQueue, 'VALIDATION_QUEUE_NAME', logger, signal);
    if (inboundUrl === undefined || validationUrl === undefined) return;

    phase = 'waiting-for-clamd';
    if (!(await waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, signal))) return;
    const engine = cachedEngine(() => clamd.version(), logger);
    const info = await engine();
    logger.info(
      {
        clamd: describeAddress(config.clamd.address),
        engine: info?.raw,
        inboundQueue: inboundUrl,
        validationQueue: validationUrl,
        concurrency: config.concurrency,
        maxFileSizeBytes: config.maxFileSizeBytes,
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
      outage: {
        isOutage: isClamdOutage,
        recovered: (outageSignal) => waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, outageSignal),
      },
      handle: (message, messageSignal, scanned) =>
        processMessage(
          { messageId: message.MessageId, body: message.Body, receiveCount: receiveCountOf(message) },
          rules,
          deps,
          logger,
          messageSignal,
          scanned,
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
    clients.destroy();
    health?.close();
  }
}
