/**
 * What the worker's AWS requests cost, at list prices (the figures deploy/lib/cost.ts
 * reads back from docs/benchmarks.md), and Fargate's price for the whole-task phase.
 * Only request charges: storage, data transfer, KMS and free tiers are left out.
 */
import type { RequestCounts } from '../harness/aws-proxy.ts';
import { FARGATE_PRICES, REQUEST_PRICES } from '../src/aws/prices.ts';
import type { RequestSummary } from './results.ts';

export const PRICES = {
  basis:
    'AWS list prices for us-east-1 as published in 2025, request charges only, free tiers ignored ' +
    '(S3 Standard, SQS standard queue, SNS standard topic), Fargate Linux/x86 compute; check https://aws.amazon.com/pricing/ for current ones',
  /** S3 Standard: PUT, COPY, POST, LIST requests, per 1,000 (src/aws/prices.ts, the one list). */
  s3PutCopyPostListPer1000: REQUEST_PRICES.s3PutCopyPostListPer1000,
  /** S3 Standard: GET, SELECT and all other requests, per 1,000. */
  s3GetAndOtherPer1000: REQUEST_PRICES.s3GetPer1000,
  /** SQS standard queue: per million requests (each 64 KiB chunk of a payload is one request). */
  sqsPerMillion: REQUEST_PRICES.sqsPerMillion,
  /** SNS standard topic: per million publishes (delivery to SQS is free). */
  snsPublishPerMillion: 0.5,
  /** Fargate (Linux, x86), per vCPU-hour and per GB-hour: the whole-task figures' compute cost. */
  fargateVcpuHour: FARGATE_PRICES.vcpuHour,
  fargateGbHour: FARGATE_PRICES.gbHour,
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

function usdPerRequest(operation: string): number {
  const each: Record<PriceClass, number> = {
    's3-put': PRICES.s3PutCopyPostListPer1000 / 1000,
    's3-get': PRICES.s3GetAndOtherPer1000 / 1000,
    sqs: PRICES.sqsPerMillion / 1e6,
    sns: PRICES.snsPublishPerMillion / 1e6,
    's3-free': 0,
    unpriced: 0,
  };
  return each[priceClass(operation)];
}

/** Operations made once per worker start, not per file (GetQueueAttributes: the inbound queue's redrive policy). */
const PER_START = new Set(['SQS.GetQueueUrl', 'SQS.GetQueueAttributes']);

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
