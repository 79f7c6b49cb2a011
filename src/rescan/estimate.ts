/**
 * What a rescan will take, before and while it runs: how long the fleet needs to
 * scan what it queues, what the requests cost, and how far through its objects a
 * running rescan is (for the progress line's ETA). Pure.
 */
import { REQUEST_PRICES, usd } from '../aws/prices.ts';

/**
 * One worker task's throughput, as docs/deploy.md's cost table assumes it (a
 * 1-vCPU Fargate task against real S3): about 50 small files a second, bounded
 * by round trips, or 20 MiB/s of large files, bounded by clamd's CPU. A set of
 * files takes the longer of the two; the benchmark's figures scaled to 1 vCPU and
 * real S3 latency, not a measurement on AWS.
 */
export const WORKER_FILES_PER_SECOND = 50;
export const WORKER_BYTES_PER_SECOND = 20 * 1024 * 1024;

export interface Fleet {
  workers: number;
  /** Where the figure came from, in words. */
  basis: string;
}

/**
 * The fleet's size from what it holds: each worker keeps at most CONCURRENCY +
 * RECEIVE_AHEAD messages in flight (received, not yet deleted), so a busy fleet of
 * n holds about n times that. An idle fleet holds nothing, and scales out only
 * once messages wait: then one worker is assumed.
 */
export function fleetFromInFlight(inFlight: number, perWorker: number): Fleet {
  if (inFlight <= 0) {
    return { workers: 1, basis: 'no messages in flight: the fleet is idle or scaled to zero, so 1 worker is assumed (--fleet sets it)' };
  }
  const workers = Math.max(1, Math.ceil(inFlight / perWorker));
  return {
    workers,
    basis: `${inFlight} messages in flight ÷ ${perWorker} per worker (CONCURRENCY + RECEIVE_AHEAD); --fleet sets it`,
  };
}

export interface DurationEstimate {
  seconds: number;
  /** What bounds it: the fleet's scanning, or --rate. */
  bound: 'fleet' | 'rate';
}

/** How long `workers` take to scan `objects` of `bytes` in all, and no faster than `rate` messages a second. */
export function estimateDuration(objects: number, bytes: number, workers: number, rate: number | undefined): DurationEstimate {
  const scanSeconds = Math.max(objects / WORKER_FILES_PER_SECOND, bytes / WORKER_BYTES_PER_SECOND) / Math.max(1, workers);
  const rateSeconds = rate === undefined ? 0 : objects / rate;
  return rateSeconds > scanSeconds ? { seconds: rateSeconds, bound: 'rate' } : { seconds: scanSeconds, bound: 'fleet' };
}

/** SQS requests a worker makes per clean file (receive, delete, forward; batched): docs/benchmarks.md measured 0.68 to 1.19. */
export const WORKER_SQS_REQUESTS_PER_FILE = 1;

export interface CostInput {
  /** Events queued. */
  objects: number;
  /** Of those, the objects whose source writes the status tag (one PutObjectTagging each). */
  tagged: number;
  /** Requests rescan made to find the objects: ListObjects(V2)/ListObjectVersions pages. */
  listRequests: number;
  /** GETs of an inventory report (the manifest and its data files). */
  inventoryGets: number;
}

export interface CostLine {
  who: 'rescan' | 'workers';
  what: string;
  requests: number;
  usd: number;
}

export interface CostEstimate {
  lines: CostLine[];
  totalUsd: number;
  /** The status tags kept, per month, for objects that had none before. */
  tagsPerMonthUsd: number;
  basis: string;
}

/**
 * The AWS request cost of a rescan, for clean files: rescan's own requests, and
 * the workers' for each event (the GetObject, the status tag, their SQS share).
 * An infected file costs its quarantine besides (about $16 per million infected
 * files, docs/benchmarks.md).
 */
export function estimateCost(input: CostInput): CostEstimate {
  const sends = Math.ceil(input.objects / 10);
  const lines: CostLine[] = [];
  if (input.listRequests > 0) lines.push({ who: 'rescan', what: 'LIST', requests: input.listRequests, usd: usd.s3Put(input.listRequests) });
  if (input.inventoryGets > 0) {
    lines.push({ who: 'rescan', what: 'GET (inventory report)', requests: input.inventoryGets, usd: usd.s3Get(input.inventoryGets) });
  }
  lines.push({ who: 'rescan', what: 'SendMessageBatch', requests: sends, usd: usd.sqs(sends) });
  lines.push({ who: 'workers', what: 'GetObject', requests: input.objects, usd: usd.s3Get(input.objects) });
  if (input.tagged > 0) lines.push({ who: 'workers', what: 'PutObjectTagging', requests: input.tagged, usd: usd.s3Put(input.tagged) });
  const workerSqs = Math.ceil(input.objects * WORKER_SQS_REQUESTS_PER_FILE);
  lines.push({ who: 'workers', what: 'SQS (receive, delete, forward)', requests: workerSqs, usd: usd.sqs(workerSqs) });
  return {
    lines,
    totalUsd: lines.reduce((sum, line) => sum + line.usd, 0),
    tagsPerMonthUsd: usd.tagsPerMonth(input.tagged),
    basis: REQUEST_PRICES.basis,
  };
}

/** "$1,234.56", "$0.42", "<$0.01", "$0". */
export function formatUsd(amount: number): string {
  if (amount === 0) return '$0';
  if (amount < 0.01) return '<$0.01';
  return `$${amount.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

const UUID_HEAD = /^[0-9a-f]{1,8}/i;

/**
 * How far through a listing of submission keys (`<prefix><uuid>/<filename>`) a key
 * is. Submission GUIDs are random, so keys are spread evenly over the key space
 * and the position of the last key listed (its first 32 bits) is the share done.
 * undefined for a key that does not start with hex digits after the prefix.
 */
export function keyspaceFraction(key: string, prefix: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const head = UUID_HEAD.exec(key.slice(prefix.length))?.[0];
  if (head === undefined) return undefined;
  return Number.parseInt(head.padEnd(8, '0'), 16) / 2 ** 32;
}

/** Below this much progress (or time) an ETA is noise. */
const MIN_PROGRESS = 0.001;
const MIN_ELAPSED_MS = 2_000;

/**
 * Time left, from the share done when the run started (`from`, after a resume)
 * and now (`fraction`) over `elapsedMs`; undefined while that says too little.
 */
export function remainingMs(from: number, fraction: number | undefined, elapsedMs: number): number | undefined {
  if (fraction === undefined) return undefined;
  const done = fraction - from;
  if (fraction >= 1) return 0;
  if (done < MIN_PROGRESS || elapsedMs < MIN_ELAPSED_MS) return undefined;
  return (elapsedMs * (1 - fraction)) / done;
}
