/**
 * The worker's composition root: the pipeline and the poll loop, built from the
 * settings and the adapters the worker has started (src/worker/service.ts).
 * Wiring only: nothing here decides, waits or starts anything.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { AwsClients } from '../aws/clients.ts';
import { s3ObjectStore } from '../aws/object-store.ts';
import { changeVisibility, originOf, receiveCountOf, receiveMessages, type OutgoingMessage, type QueueRef } from '../aws/queue.ts';
import { publish } from '../aws/topic.ts';
import type { PipelineDeps, PipelineSettings, ResultPublisher } from '../pipeline/deps.ts';
import type { OutcomeListener } from '../pipeline/outcome.ts';
import { processMessage } from '../pipeline/process-message.ts';
import { ClamdError, type ClamdClient } from '../scan/clamd-client.ts';
import type { EngineInfo } from '../scan/reply.ts';
import { waitForClamd } from '../scan/wait-ready.ts';
import { Worker, type WorkerQueue } from './worker.ts';

/** A queue the worker reads, as resolved at start. */
export interface ReadQueue {
  url: string;
  /** Its maxReceiveCount, when its redrive policy could be read. */
  maxReceiveCount: number | undefined;
  /** Deletes a finished message (batched). */
  remove(receiptHandle: string): Promise<void>;
}

/** What the worker started before it composes: clients, clamd, the queues as resolved. */
export interface Adapters {
  clients: AwsClients;
  clamd: ClamdClient;
  /** clamd's VERSION, cached. */
  engine: () => Promise<EngineInfo | null>;
  inbound: ReadQueue;
  /** RESCAN_QUEUE, when set. */
  rescan?: ReadQueue;
  /** Sends a clean file's event to a source's validation queue (resolved at start), batched. */
  forward(message: OutgoingMessage, queue: QueueRef): Promise<void>;
  /** The result bus, when RESULT_EVENT_BUS is set. */
  results?: ResultPublisher;
}

/** The pipeline's settings: the sources, and the limits. */
export function pipelineSettings(config: Config): PipelineSettings {
  return {
    sources: config.sources,
    statusTagStyle: config.statusTagStyle,
    maxFileSizeBytes: config.clamd.maxFileSizeBytes,
    unscannableAction: config.tuning.unscannableAction,
    multipartCopyThresholdBytes: config.tuning.multipartCopyThresholdBytes,
  };
}

/** The pipeline's I/O, bound to S3, SNS, the validation queues, the result bus and clamd. */
export function pipelineDeps(config: Config, adapters: Adapters): PipelineDeps {
  const { clients } = adapters;
  return {
    objects: s3ObjectStore(clients.s3),
    notifier: {
      publish: (notification, topicArn) => {
        // The settings make sure a source without its own topic has the global one.
        const topic = topicArn ?? config.queues.topicArn;
        if (!topic) throw new Error('no notification topic for this source');
        return publish(clients.sns, topic, notification);
      },
    },
    forwarder: { forward: adapters.forward },
    scanner: adapters.clamd,
    ...(adapters.results ? { results: adapters.results } : {}),
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

/** The poll loops over the inbound queue (and the rescan queue), handing each message to the pipeline. */
export function composeWorker(config: Config, adapters: Adapters, hooks: WorkerHooks): Worker {
  const { clients, inbound, rescan, clamd } = adapters;
  const { logger, onOutcome } = hooks;
  const settings = pipelineSettings(config);
  const { tuning } = config;
  const deps = pipelineDeps(config, adapters);
  const workerQueue = (queue: ReadQueue): WorkerQueue => ({
    receive: (max, signal) =>
      receiveMessages(clients.sqs, queue.url, {
        max,
        waitSeconds: tuning.receiveWaitSeconds,
        visibilityTimeoutSeconds: tuning.visibilityTimeoutSeconds,
        signal,
      }),
    changeVisibility: (receiptHandle, seconds) => changeVisibility(clients.sqs, queue.url, receiptHandle, seconds),
    remove: queue.remove,
  });
  return new Worker({
    queue: workerQueue(inbound),
    ...(rescan ? { rescanQueue: workerQueue(rescan) } : {}),
    concurrency: tuning.concurrency,
    receiveAhead: tuning.receiveAhead,
    visibilityTimeoutSeconds: tuning.visibilityTimeoutSeconds,
    receiveWaitSeconds: tuning.receiveWaitSeconds,
    shutdownTimeoutMs: tuning.shutdownTimeoutSeconds * 1000,
    retryDelaySeconds: tuning.retryDelaySeconds,
    logger,
    paused: hooks.paused,
    onInFlight: hooks.onInFlight,
    outage: {
      isOutage: isClamdOutage,
      recovered: (signal) => waitForClamd((s) => clamd.ping(s), config.clamd.address, logger, signal),
    },
    handle: (message, signal, scanned, lane) => {
      const { maxReceiveCount } = lane === 'rescan' && rescan ? rescan : inbound;
      return processMessage(
        {
          messageId: message.MessageId,
          body: message.Body,
          receiveCount: receiveCountOf(message),
          // The rescan queue's messages are read exactly like inbound ones: `rescan` queues them with bucketscan-origin=rescan.
          origin: originOf(message),
          ...(maxReceiveCount === undefined ? {} : { maxReceiveCount }),
        },
        { settings, deps, logger, signal, scanned, onOutcome },
      ).catch((error: unknown) => ({ action: 'retry' as const, error }));
    },
  });
}
