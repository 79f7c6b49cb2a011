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
import {
  createQueueBatchers,
  maxReceiveCountOf,
  resolveQueueUrl,
  type QueueBatchers,
  type QueueExpectMore,
  type QueueRef,
} from '../aws/queue.ts';
import type { ResultBus } from '../aws/result-bus.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createEmfMetrics, createPrometheusMetrics, type Gauges, type Metrics, type MetricsLabels } from '../metrics/metrics.ts';
import type { OutcomeEvent, OutcomeListener } from '../pipeline/outcome.ts';
import { ClamdClient } from '../scan/clamd-client.ts';
import { cachedEngine } from '../scan/engine-cache.ts';
import { startFreshnessMonitor } from '../scan/freshness.ts';
import { describeAddress, waitForClamd } from '../scan/wait-ready.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffSeconds, retryUntil } from '../shared/time.ts';
import { composeWorker, type ReadQueue } from './compose.ts';
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
  /** The entry of a sources file that names the queue. */
  field?: string,
): Promise<string | undefined> {
  return retryUntil((attemptSignal) => resolveQueueUrl(sqs, queue, attemptSignal), {
    signal,
    delayMs: (attempt) => backoffSeconds(attempt, 1, 30) * 1000,
    check: (error) => {
      if (isQueueMissing(error)) {
        throw new ConfigError(variable, `${field ? `${field}: ` : ''}queue "${'name' in queue ? queue.name : queue.url}" does not exist`);
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
async function createMetrics(config: MetricsSettings, gauges: Gauges, labels: MetricsLabels): Promise<Metrics | undefined> {
  if (config.mode === 'emf') {
    return createEmfMetrics({
      namespace: config.namespace,
      intervalMs: 60_000,
      gauges,
      write: (line) => process.stdout.write(line),
      labels,
    });
  }
  if (config.mode === 'prometheus' && config.healthPort) return createPrometheusMetrics(gauges, labels);
  return undefined;
}

/** How a queue of the settings is named in a message: its variable, or the source that names it. */
function queueKey(queue: QueueRef): string {
  return 'url' in queue ? `url:${queue.url}` : `name:${queue.name}`;
}

/** Each distinct validation queue of the sources, once, with the setting that names it. */
function validationQueues(config: Config): Map<string, { ref: QueueRef; variable: string; field?: string }> {
  const queues = new Map<string, { ref: QueueRef; variable: string; field?: string }>();
  for (const source of config.sources) {
    if (!source.validationQueue || queues.has(queueKey(source.validationQueue))) continue;
    queues.set(
      queueKey(source.validationQueue),
      config.sourcesFile
        ? { ref: source.validationQueue, variable: 'SOURCES_FILE', field: `${source.label}.validationQueue` }
        : { ref: source.validationQueue, variable: 'VALIDATION_QUEUE_NAME' },
    );
  }
  return queues;
}

/**
 * How long a delete or a forward may wait for others to share its batch: the
 * AWS SDK for Java's own SQS batching waits up to 200 ms (QueueBufferConfig,
 * MAX_BATCH_OPEN_MS_DEFAULT). It waits only while other held messages could still
 * join: a lone file is forwarded and deleted at once (docs/behaviour.md,
 * "Batched deletes and forwards").
 */
const BATCH_WINDOW_MS = 200;

/**
 * Batched deletes and sends, one pair per queue URL; a queue only deleted from or
 * only sent to uses half. `held`: the messages the worker holds, the only ones
 * that can still join a batch; `nudge` when it changes.
 */
function queueOutboxes(sqs: SQSClient, held: () => number) {
  const byUrl = new Map<string, QueueBatchers>();
  const expectMore: QueueExpectMore = {
    // A finished message is let go before its delete: any still held will be deleted too.
    deletes: () => held() > 0,
    // A message waiting for its forward is still held: more are on their way while more are held than wait in the batch.
    sends: (pending) => held() > pending,
  };
  const batchers = (url: string) => {
    let found = byUrl.get(url);
    if (!found) {
      found = createQueueBatchers(sqs, { inbound: url, outbound: url }, { deleteMs: BATCH_WINDOW_MS, sendMs: BATCH_WINDOW_MS }, expectMore);
      byUrl.set(url, found);
    }
    return found;
  };
  return {
    remover: (url: string) => batchers(url).delete,
    sender: (url: string) => batchers(url).forward,
    nudge() {
      for (const outbox of byUrl.values()) outbox.nudge();
    },
    async drain() {
      await Promise.all([...byUrl.values()].map((b) => b.drain()));
    },
  };
}

/** The queues' URLs, each looked up once at start; undefined when one is missing (logged) or the worker is stopping. */
async function resolveQueues(
  config: Config,
  sqs: SQSClient,
  logger: Logger,
  signal: AbortSignal,
): Promise<{ inboundUrl: string; rescanUrl: string | undefined; validationUrls: Map<string, string> } | undefined> {
  const inboundUrl = await queueUrl(sqs, config.queues.inbound, 'VIRUS_SCANNING_QUEUE_NAME', logger, signal);
  if (inboundUrl === undefined) return undefined;
  const rescanUrl = config.queues.rescan && (await queueUrl(sqs, config.queues.rescan, 'RESCAN_QUEUE', logger, signal));
  if (config.queues.rescan && rescanUrl === undefined) return undefined;
  // Each distinct validation queue is looked up once, at start: a missing one stops the worker here, not at the first clean file.
  const validationUrls = new Map<string, string>();
  for (const [key, { ref, variable, field }] of validationQueues(config)) {
    const url = await queueUrl(sqs, ref, variable, logger, signal, field);
    if (url === undefined) return undefined;
    validationUrls.set(key, url);
  }
  return { inboundUrl, rescanUrl, validationUrls };
}

/** The "worker started" line, and a warning for each source whose clean files would only be logged. */
function logStarted(
  config: Config,
  logger: Logger,
  facts: {
    engine: string | undefined;
    inboundUrl: string;
    rescanUrl: string | undefined;
    validationUrlOf: (queue: QueueRef | undefined) => string | undefined;
    maxReceiveCount: number | undefined;
    metrics: string;
  },
): void {
  const { inboundUrl, rescanUrl, validationUrlOf, maxReceiveCount } = facts;
  logger.info(
    {
      clamd: describeAddress(config.clamd.address),
      engine: facts.engine,
      inboundQueue: inboundUrl,
      ...(rescanUrl ? { rescanQueue: rescanUrl } : {}),
      ...(config.sourcesFile
        ? {
            sourcesFile: config.sourcesFile,
            sources: config.sources.map((source) => ({
              bucket: source.bucket,
              prefix: source.prefix,
              keyLayout: source.keyLayout,
              quarantine: `s3://${source.quarantine.bucket}/${source.quarantine.prefix}`,
              validationQueue: validationUrlOf(source.validationQueue) ?? null,
              statusTag: source.statusTag ?? null,
            })),
          }
        : { validationQueue: validationUrlOf(config.source.validationQueue), statusTag: config.source.statusTag ?? null }),
      ...(config.resultBus ? { resultBus: config.resultBus } : {}),
      concurrency: config.tuning.concurrency,
      maxFileSizeBytes: config.clamd.maxFileSizeBytes,
      maxReceiveCount,
      metrics: facts.metrics,
    },
    'worker started',
  );
  const silent = config.sources.filter((source) => !source.validationQueue && !source.statusTag && !config.resultBus);
  for (const source of silent) {
    logger.warn(
      { bucket: source.bucket, prefix: source.prefix },
      `${source.label} has no validation queue, no status tag and no RESULT_EVENT_BUS: its clean files are only logged`,
    );
  }
}

/** The result bus (RESULT_EVENT_BUS), or undefined without one. */
async function createResults(config: Config, metrics: Metrics | undefined): Promise<ResultBus | undefined> {
  if (!config.resultBus) return undefined;
  // Loaded only with a result bus: the EventBridge client is not part of a worker without one.
  return (await import('../aws/result-bus.ts')).createResultBus(config.aws.events!, config.resultBus, {
    lingerMs: 10,
    maxSockets: Math.max(16, config.tuning.concurrency * 2),
    onError: (service, operation) => metrics?.awsError(service, operation),
  });
}

/**
 * Runs the worker until `signal` aborts, then shuts down gracefully. Resolves once
 * every message in work is settled and the clients are closed.
 */
export async function runWorker(config: Config, logger: Logger, signal: AbortSignal, options: RunOptions = {}): Promise<void> {
  const status = new WorkerStatus();
  const snapshot = () => status.snapshot();
  // With a sources file the records are counted per source bucket too.
  const labels: MetricsLabels = config.sourcesFile ? { buckets: config.sources.map((source) => source.bucket) } : {};
  const metrics = await createMetrics(config.metrics, gauges(snapshot), labels);
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
  let results: ResultBus | undefined;
  try {
    const clamd = new ClamdClient({
      address: config.clamd.address,
      connectTimeoutMs: config.clamd.connectTimeoutMs,
      idleTimeoutMs: config.clamd.idleTimeoutMs,
      maxStreamBytes: config.clamd.maxFileSizeBytes,
      // Kept IDSESSION connections: no TCP connect per file (docs/aws-requests.md).
      sessions: true,
    });
    const urls = await resolveQueues(config, clients.sqs, logger, signal);
    if (!urls) return;
    const { inboundUrl, rescanUrl, validationUrls } = urls;

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
    const redrive = (url: string, which: string) =>
      maxReceiveCountOf(clients.sqs, url).catch((error: unknown) => {
        logger.warn(
          { error: errorMessage(error) },
          `could not read the ${which} queue's redrive policy; the last receive before the dead-letter queue cannot be told`,
        );
        return undefined;
      });
    const maxReceiveCount = await redrive(inboundUrl, 'inbound');
    const rescanMaxReceiveCount = rescanUrl ? await redrive(rescanUrl, 'rescan') : undefined;
    const validationUrlOf = (queue: QueueRef | undefined) => (queue ? validationUrls.get(queueKey(queue)) : undefined);
    logStarted(config, logger, {
      engine: info?.raw,
      inboundUrl,
      rescanUrl,
      validationUrlOf,
      maxReceiveCount,
      metrics: metrics ? config.metrics.mode : 'off',
    });

    // The worker's own count of held messages; it exists before any batch does.
    const outboxes = queueOutboxes(clients.sqs, () => status.worker?.inFlight ?? 0);
    results = await createResults(config, metrics);
    const read = (url: string, count: number | undefined): ReadQueue => ({ url, maxReceiveCount: count, remove: outboxes.remover(url) });
    const worker = composeWorker(
      config,
      {
        clients,
        clamd,
        engine,
        inbound: read(inboundUrl, maxReceiveCount),
        ...(rescanUrl ? { rescan: read(rescanUrl, rescanMaxReceiveCount) } : {}),
        forward: (message, queue) => {
          const url = validationUrlOf(queue);
          if (!url) throw new Error('the validation queue was not resolved at start');
          return outboxes.sender(url)(message);
        },
        ...(results ? { results } : {}),
      },
      {
        logger,
        paused: () => freshness.state().pause,
        onOutcome,
        onInFlight: (count) => {
          protection?.update(count);
          outboxes.nudge();
        },
      },
    );
    status.worker = worker;
    const stop = () => void worker.stop();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    status.phase = 'running';
    await worker.start();
    await worker.stop();
    await Promise.all([outboxes.drain(), results?.drain()]);
    logger.info('worker stopped');
  } finally {
    status.phase = 'stopped';
    await protection?.stop();
    status.freshness?.stop();
    metrics?.stop();
    clients.destroy();
    results?.destroy();
    health?.close();
  }
}
