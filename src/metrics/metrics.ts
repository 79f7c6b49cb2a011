/**
 * The worker's metrics, fed by the outcome stream (src/pipeline/outcome.ts) and a
 * few gauges read when asked. Two outputs with the same names: Prometheus text on
 * GET /metrics (METRICS=prometheus, the default) and CloudWatch Embedded Metric
 * Format lines on stdout (METRICS=emf), which CloudWatch Logs turns into metrics
 * without an agent (ECS with the awslogs driver, Lambda).
 */
import type { OutcomeEvent } from '../pipeline/outcome.ts';
import { OUTCOMES, recordsIn } from '../pipeline/outcome.ts';

/** Read when metrics are rendered; undefined: not known (yet). */
export interface Gauges {
  inFlight(): number;
  clamdUp(): boolean | undefined;
  definitionsAgeSeconds(): number | undefined;
}

export interface Metrics {
  observe(event: OutcomeEvent): void;
  awsError(service: string, operation: string): void;
  /** Prometheus text, for /metrics; undefined when this sink serves none. */
  render?(): Promise<{ contentType: string; body: string }>;
  stop(): void;
}

/** Histogram buckets: scans from 1 ms to 10 min, sizes from 1 KiB to 4 GiB. */
export const SCAN_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600];
export const SIZE_BYTES_BUCKETS = [1024, 16384, 262144, 1048576, 16777216, 104857600, 1073741824, 4294967296];

/**
 * The `bucket` label of an event: its source's bucket for a record that passed
 * the checks; "" for an invalid one (its bucket is whatever the message claims,
 * and labels must stay a bounded set) and for events about a whole message.
 */
export function bucketOf(event: OutcomeEvent): string {
  return event.outcome !== 'invalid' && 'bucket' in event ? event.bucket : '';
}

/**
 * What the metrics are labelled with beyond outcome and origin: with a sources
 * file (SOURCES_FILE) `bucket`, one series per source bucket (listed here so they
 * start at zero); with the single-bucket variables, nothing more.
 */
export interface MetricsLabels {
  buckets?: readonly string[];
}

/** Scan time and size, for the events that have them. */
export function figuresOf(event: OutcomeEvent): { scanSeconds?: number; size?: number } {
  if (!('size' in event)) return {};
  return { size: event.size, ...(event.scanMs === undefined ? {} : { scanSeconds: event.scanMs / 1000 }) };
}

export async function createPrometheusMetrics(gauges: Gauges, labels: MetricsLabels = {}): Promise<Metrics> {
  // Loaded only when metrics are served: prom-client costs resident memory.
  // `.default`: prom-client is CommonJS, and in the esbuild bundle (dist/) a dynamic
  // import of it has its exports under `default` only; Node's own import has them
  // there too.
  const client = (await import('prom-client')).default;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const byBucket = labels.buckets !== undefined;
  const records = new client.Counter({
    name: 'bucketscan_records_total',
    help: byBucket
      ? "Records (one file each) by outcome, by origin (event: an upload; rescan), and by the source's bucket (empty for invalid records)."
      : 'Records (one file each) by outcome, and by origin: event (an upload) or rescan.',
    labelNames: byBucket ? ['outcome', 'origin', 'bucket'] : ['outcome', 'origin'],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) {
    if (!byBucket) records.labels(outcome, 'event').inc(0);
    else for (const bucket of new Set(['', ...(labels.buckets ?? [])])) records.labels(outcome, 'event', bucket).inc(0);
  }
  const scanDuration = new client.Histogram({
    name: 'bucketscan_scan_duration_seconds',
    help: 'Time clamd took per file, from the first byte sent to its verdict.',
    buckets: SCAN_SECONDS_BUCKETS,
    registers: [registry],
  });
  const objectSize = new client.Histogram({
    name: 'bucketscan_object_size_bytes',
    help: 'Size of each file judged (scanned, or judged too large by its size).',
    buckets: SIZE_BYTES_BUCKETS,
    registers: [registry],
  });
  const scannedBytes = new client.Counter({
    name: 'bucketscan_scanned_bytes_total',
    help: 'Bytes streamed to clamd.',
    registers: [registry],
  });
  const awsErrors = new client.Counter({
    name: 'bucketscan_aws_errors_total',
    help: 'Failed AWS requests (after the SDK retries), by service and operation.',
    labelNames: ['service', 'operation'],
    registers: [registry],
  });
  new client.Gauge({
    name: 'bucketscan_in_flight_messages',
    help: 'Messages held: received and not yet deleted or returned.',
    registers: [registry],
    collect() {
      this.set(gauges.inFlight());
    },
  });
  new client.Gauge({
    name: 'bucketscan_clamd_up',
    help: '1 when clamd answers, 0 when it does not.',
    registers: [registry],
    collect() {
      const up = gauges.clamdUp();
      if (up !== undefined) this.set(up ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'bucketscan_definitions_age_seconds',
    help: "Age of clamd's signature database (from its VERSION), in seconds.",
    registers: [registry],
    collect() {
      const age = gauges.definitionsAgeSeconds();
      if (age !== undefined) this.set(age);
    },
  });
  return {
    observe(event) {
      const origin = 'origin' in event ? event.origin : 'event';
      (byBucket ? records.labels(event.outcome, origin, bucketOf(event)) : records.labels(event.outcome, origin)).inc(recordsIn(event));
      const { scanSeconds, size } = figuresOf(event);
      if (size !== undefined) objectSize.observe(size);
      if (scanSeconds !== undefined) {
        scanDuration.observe(scanSeconds);
        scannedBytes.inc(size ?? 0);
      }
    },
    awsError(service, operation) {
      awsErrors.labels(service, operation).inc();
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    stop() {},
  };
}

/**
 * EMF: every `intervalMs` (and at stop), one JSON line per dimension set with
 * what happened since the last line. Counters are sent as deltas (CloudWatch
 * sums them), durations and sizes as value/count arrays.
 */
export function createEmfMetrics(options: {
  namespace: string;
  intervalMs: number;
  gauges: Gauges;
  write(line: string): void;
  now?: () => number;
  labels?: MetricsLabels;
}): Metrics {
  const byBucket = options.labels?.buckets !== undefined;
  const now = options.now ?? Date.now;
  let records = new Map<string, number>();
  let awsErrors = new Map<string, number>();
  let scans: number[] = [];
  let sizes: number[] = [];
  let bytes = 0;

  const document = (dimensions: string[][], metrics: Array<{ Name: string; Unit: string }>, values: Record<string, unknown>) =>
    `${JSON.stringify({ _aws: { Timestamp: now(), CloudWatchMetrics: [{ Namespace: options.namespace, Dimensions: dimensions, Metrics: metrics }] }, ...values })}\n`;

  const flush = () => {
    for (const [key, count] of records) {
      const [outcome, origin, bucket] = key.split('|');
      // CloudWatch dimension values may not be empty: events without a source's bucket have no bucket dimension.
      const dimensions = bucket ? [['outcome'], ['outcome', 'origin'], ['outcome', 'bucket']] : [['outcome'], ['outcome', 'origin']];
      options.write(
        document(dimensions, [{ Name: 'bucketscan_records_total', Unit: 'Count' }], {
          outcome,
          origin,
          ...(bucket ? { bucket } : {}),
          bucketscan_records_total: count,
        }),
      );
    }
    for (const [key, count] of awsErrors) {
      const [service, operation] = key.split('|');
      options.write(
        // Also without dimensions: the total is what the deployment's AwsErrors alarm watches.
        document([['service', 'operation'], []], [{ Name: 'bucketscan_aws_errors_total', Unit: 'Count' }], {
          service,
          operation,
          bucketscan_aws_errors_total: count,
        }),
      );
    }
    const up = options.gauges.clamdUp();
    const age = options.gauges.definitionsAgeSeconds();
    const values: Record<string, unknown> = {
      bucketscan_in_flight_messages: options.gauges.inFlight(),
      bucketscan_scanned_bytes_total: bytes,
    };
    const metrics = [
      { Name: 'bucketscan_in_flight_messages', Unit: 'Count' },
      { Name: 'bucketscan_scanned_bytes_total', Unit: 'Bytes' },
    ];
    if (up !== undefined) {
      values['bucketscan_clamd_up'] = up ? 1 : 0;
      metrics.push({ Name: 'bucketscan_clamd_up', Unit: 'None' });
    }
    if (age !== undefined) {
      values['bucketscan_definitions_age_seconds'] = Math.round(age);
      metrics.push({ Name: 'bucketscan_definitions_age_seconds', Unit: 'Seconds' });
    }
    if (scans.length > 0) {
      values['bucketscan_scan_duration_seconds'] = scans;
      metrics.push({ Name: 'bucketscan_scan_duration_seconds', Unit: 'Seconds' });
    }
    if (sizes.length > 0) {
      values['bucketscan_object_size_bytes'] = sizes;
      metrics.push({ Name: 'bucketscan_object_size_bytes', Unit: 'Bytes' });
    }
    options.write(document([[]], metrics, values));
    records = new Map();
    awsErrors = new Map();
    scans = [];
    sizes = [];
    bytes = 0;
  };
  const timer = setInterval(flush, options.intervalMs);
  timer.unref();
  return {
    observe(event) {
      const key = `${event.outcome}|${'origin' in event ? event.origin : 'event'}${byBucket ? `|${bucketOf(event)}` : ''}`;
      records.set(key, (records.get(key) ?? 0) + recordsIn(event));
      const { scanSeconds, size } = figuresOf(event);
      // EMF takes at most 100 values per metric in one document; beyond that, a
      // flush comes early.
      if (size !== undefined) sizes.push(size);
      if (scanSeconds !== undefined) {
        scans.push(Number(scanSeconds.toFixed(6)));
        bytes += size ?? 0;
      }
      if (scans.length >= 100 || sizes.length >= 100) flush();
    },
    awsError(service, operation) {
      const key = `${service}|${operation}`;
      awsErrors.set(key, (awsErrors.get(key) ?? 0) + 1);
    },
    stop() {
      clearInterval(timer);
      flush();
    },
  };
}
