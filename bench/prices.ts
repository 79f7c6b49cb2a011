/**
 * What the worker's AWS requests cost, at list prices. Only request charges:
 * storage, data transfer (free within a region), KMS and compute are left out, and
 * so are free tiers.
 */
import type { RequestCounts } from '../harness/aws-proxy.ts';

export const PRICES = {
  basis:
    'AWS list prices for us-east-1 as published in 2025, request charges only, free tiers ignored ' +
    '(S3 Standard, SQS standard queue, SNS standard topic), Fargate Linux/x86 compute; check https://aws.amazon.com/pricing/ for current ones',
  /** S3 Standard: PUT, COPY, POST, LIST requests, per 1,000. */
  s3PutCopyPostListPer1000: 0.005,
  /** S3 Standard: GET, SELECT and all other requests, per 1,000. */
  s3GetAndOtherPer1000: 0.0004,
  /** SQS standard queue: per million requests (each 64 KiB chunk of a payload is one request). */
  sqsPerMillion: 0.4,
  /** SNS standard topic: per million publishes (delivery to SQS is free). */
  snsPublishPerMillion: 0.5,
  /**
   * S3 Object Tagging, per 10,000 tags per month (the pricing page's storage
   * management charge): not a request charge, so not in any per-file request cost;
   * the status tag is one tag on every scanned version for as long as it is kept.
   */
  s3ObjectTagsPer10000PerMonth: 0.01,
  /** Fargate (Linux, x86), per vCPU-hour and per GB-hour: the whole-task figures' compute cost. */
  fargateVcpuHour: 0.04048,
  fargateGbHour: 0.004445,
  /** Memory priced with each vCPU (2 GB: Fargate's least for a 1-vCPU task). */
  fargateGbPerVcpu: 2,
  /** Published figures of a commercial ClamAV-based scanner (issue 15), per vCPU. */
  published: { filesPerVcpuSecondAt100KB: 2.4, mbPerVcpuSecondAt10MB: 1.3 },
} as const;

export type PriceClass = 's3-put' | 's3-get' | 's3-free' | 'sqs' | 'sns' | 'unpriced';

/**
 * S3 operations whose class is not plain from their name, with the category of
 * the "Requests & data retrievals" table of https://aws.amazon.com/s3/pricing/ they
 * are billed in. Requests on tags are billed as other requests: PutObjectTagging is
 * an HTTP PUT (on the ?tagging subresource), so "PUT, COPY, POST, LIST requests";
 * GetObjectTagging an HTTP GET, so "GET, SELECT, and all other requests".
 */
const S3_CLASSES: Record<string, PriceClass> = {
  PutObjectTagging: 's3-put',
  GetObjectTagging: 's3-get',
  HeadObject: 's3-get',
  // DELETE and CANCEL requests are free (the same table).
  DeleteObject: 's3-free',
  DeleteObjects: 's3-free',
  AbortMultipartUpload: 's3-free',
};

/** "S3.GetObject" -> its price class. */
export function priceClass(operation: string): PriceClass {
  const [service = '', name = ''] = operation.split('.');
  if (service === 'S3') {
    const known = S3_CLASSES[name];
    if (known) return known;
    if (/^(Put|Copy|Post|List|Create|Complete|Upload|Restore)/.test(name)) return 's3-put';
    return 's3-get';
  }
  if (service === 'SQS') return 'sqs';
  if (service === 'SNS') return name === 'Publish' || name === 'PublishBatch' ? 'sns' : 'unpriced';
  return 'unpriced';
}

export function usdPerRequest(operation: string): number {
  switch (priceClass(operation)) {
    case 's3-put':
      return PRICES.s3PutCopyPostListPer1000 / 1000;
    case 's3-get':
      return PRICES.s3GetAndOtherPer1000 / 1000;
    case 'sqs':
      return PRICES.sqsPerMillion / 1e6;
    case 'sns':
      return PRICES.snsPublishPerMillion / 1e6;
    default:
      return 0;
  }
}

/** Operations made once per worker start, not per file (GetQueueAttributes: the inbound queue's redrive policy). */
const PER_START = new Set(['SQS.GetQueueUrl', 'SQS.GetQueueAttributes']);

export interface RequestSummary {
  files: number;
  /** Every attempt the worker made during the phase, startup and idle polls included. */
  attempts: Record<string, number>;
  failed: Record<string, number>;
  /** ReceiveMessage attempts that brought nothing (idle long polls at the end of the phase). */
  emptyReceives: number;
  /** Per file, with per-start calls and empty receives left out: what a busy queue costs. */
  perFile: Record<string, number>;
  /** Requests per file that are charged for (S3 DELETE is free). */
  billablePerFile: number;
  /** Request charges per million files, by price class, and in total. */
  usdPerMillionFiles: Record<string, number> & { total: number };
}

export function summarizeRequests(counts: RequestCounts, files: number): RequestSummary {
  const perFile: Record<string, number> = {};
  const usd: Record<string, number> & { total: number } = { total: 0 };
  let billable = 0;
  for (const [operation, raw] of Object.entries(counts.attempts)) {
    if (PER_START.has(operation)) continue;
    const attempts = operation === 'SQS.ReceiveMessage' ? raw - counts.emptyReceives : raw;
    if (attempts <= 0) continue;
    const each = attempts / files;
    perFile[operation] = round4(each);
    const price = usdPerRequest(operation);
    if (price > 0) {
      billable += each;
      const klass = priceClass(operation);
      const cost = each * 1e6 * price;
      usd[klass] = round4((usd[klass] ?? 0) + cost);
      usd.total += cost;
    }
  }
  usd.total = round4(usd.total);
  return {
    files,
    attempts: counts.attempts,
    failed: counts.failed,
    emptyReceives: counts.emptyReceives,
    perFile,
    billablePerFile: round4(billable),
    usdPerMillionFiles: usd,
  };
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** The requests the status tag adds to a clean file (the rest does not depend on tagging). */
export const TAG_OPERATIONS = ['S3.PutObjectTagging', 'S3.GetObjectTagging'] as const;

/**
 * A count made without tags (the emulator's) plus the tag requests per file of
 * one made with them: the tag's S3 requests are one per file whatever the timing,
 * while the SQS share depends on how many files finish together.
 */
export function withTagRequests(
  untaggedCount: RequestSummary,
  tagged: RequestSummary,
): { billablePerFile: number; usdPerMillionFiles: number } {
  let billable = untaggedCount.billablePerFile;
  let usd = untaggedCount.usdPerMillionFiles.total;
  for (const operation of TAG_OPERATIONS) {
    const each = tagged.perFile[operation] ?? 0;
    billable += each;
    usd += each * 1e6 * usdPerRequest(operation);
  }
  return { billablePerFile: round4(billable), usdPerMillionFiles: round4(usd) };
}

/** SQS requests per file (receives that brought messages, forwards, deletes). */
export function sqsPerFile(summary: RequestSummary): number {
  return round4(Object.entries(summary.perFile).reduce((sum, [operation, each]) => sum + (priceClass(operation) === 'sqs' ? each : 0), 0));
}
