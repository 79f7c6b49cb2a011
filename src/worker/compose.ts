/**
 * The worker's composition root: the pipeline and the poll loop, built from the
 * settings and the adapters the worker has started (src/worker/service.ts).
 * Wiring only: nothing here decides, waits or starts anything.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { AwsClients } from '../aws/clients.ts';
import { s3ObjectStore } from '../aws/object-store.ts';
import { changeVisibility, originOf, receiveCountOf, receiveMessages, type QueueBatchers } from '../aws/queue.ts';
import { publish } from '../aws/topic.ts';
import type { PipelineDeps, PipelineSettings } from '../pipeline/deps.ts';
import type { OutcomeListener } from '../pipeline/outcome.ts';
import { processMessage } from '../pipeline/process-message.ts';
import { ClamdError, type ClamdClient } from '../scan/clamd-client.ts';
import type { EngineInfo } from '../scan/reply.ts';
import { waitForClamd } from '../scan/wait-ready.ts';
import { Worker } from './worker.ts';

/** What the worker started before it composes: clients, clamd, the queues as resolved. */
export interface Adapters {
  clients: AwsClients;
  clamd: ClamdClient;
  /** clamd's VERSION, cached. */
  engine: () => Promise<EngineInfo | null>;
  /** Deletes from the inbound queue and forwards to the validation queue, batched. */
  batchers: QueueBatchers;
  inboundUrl: string;
  /** The inbound queue's maxReceiveCount, when its redrive policy could be read. */
  maxReceiveCount: number | undefined;
}

/** The pipeline's settings: today's one source, and the limits. */
export function pipelineSettings(config: Config): PipelineSettings {
  return {
    source: config.source,
    maxFileSizeBytes: config.clamd.maxFileSizeBytes,
    unscannableAction: config.tuning.unscannableAction,
    multipartCopyThresholdBytes: config.tuning.multipartCopyThresholdBytes,
  };
}

/** The pipeline's I/O, bound to S3, SNS, the validation queue and clamd. */
export function pipelineDeps(config: Config, adapters: Adapters): PipelineDeps {
  const { clients } = adapters;
  return {
    objects: s3ObjectStore(clients.s3),
    notifier: { publish: (notification) => publish(clients.sns, config.queues.topicArn, notification) },
    forwarder: { forward: adapters.batchers.forward },
    scanner: adapters.clamd,
    engine: adapters.engine,
    now: () => new Date(),
  };
}

/** Failures that say clamd itself is unreachable, as opposed to one file's trouble. */
export function isClamdOutage(error: unknown): boolean {
  return error instanceof ClamdError && (error.kind === 'connect' || error.kind === 'closed' || error.kind === 'timeout');
}

export interface WorkerHooks {
  logger: Logger;
  /** True while no messages should be taken (stale definitions, STALE_DEFINITIONS=pause). */
  paused: () => boolean;
  onOutcome: OutcomeListener;
  /** Told the number of messages held whenever it changes (ECS task scale-in protection). */
  onInFlight?: ((count: number) => void) | undefined;
}

/** The poll loop over the inbound queue, handing each message to the pipeline. */
export function composeWorker(config: Config, adapters: Adapters, hooks: WorkerHooks): Worker {
  const { clients, inboundUrl, maxReceiveCount, clamd } = adapters;
  const { logger, onOutcome } = hooks;
  const settings = pipelineSettings(config);
  const { tuning } = config;
  const deps = pipelineDeps(config, adapters);
  return new Worker({
    queue: {
      receive: (max, signal) =>
        receiveMessages(clients.sqs, inboundUrl, {
          max,
          waitSeconds: tuning.receiveWaitSeconds,
          visibilityTimeoutSeconds: tuning.visibilityTimeoutSeconds,
          signal,
        }),
      changeVisibility: (receiptHandle, seconds) => changeVisibility(clients.sqs, inboundUrl, receiptHandle, seconds),
      remove: adapters.batchers.delete,
    },
    concurrency: tuning.concurrency,
    receiveAhead: tuning.receiveAhead,
    visibilityTimeoutSeconds: tuning.visibilityTimeoutSeconds,
    shutdownTimeoutMs: tuning.shutdownTimeoutSeconds * 1000,
    retryDelaySeconds: tuning.retryDelaySeconds,
    logger,
    paused: hooks.paused,
    onInFlight: hooks.onInFlight,
    outage: {
      isOutage: isClamdOutage,
      recovered: (signal) => waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, signal),
    },
    handle: (message, signal, scanned) =>
      processMessage(
        {
          messageId: message.MessageId,
          body: message.Body,
          receiveCount: receiveCountOf(message),
          origin: originOf(message),
          ...(maxReceiveCount === undefined ? {} : { maxReceiveCount }),
        },
        { settings, deps, logger, signal, scanned, onOutcome },
      ).catch((error: unknown) => ({ action: 'retry' as const, error })),
  });
}
