/**
 * AWS request prices, for the cost a command prints before it starts
 * (`bucketscan rescan --dry-run`). Request charges only: storage, data transfer
 * (free within a region), KMS and compute are left out, and so are free tiers.
 *
 * us-east-1 list prices as AWS's pricing pages gave them in 2025
 * (https://aws.amazon.com/s3/pricing/, "Requests & data retrievals", S3 Standard;
 * https://aws.amazon.com/sqs/pricing/, standard queue), the figures bench/prices.ts
 * prices the benchmark with; unchanged in the restatements of cloudburn.io
 * (2026-03-14) and factualminds.com (2026-06-13), checked 2026-12-06. Nothing here
 * can reach AWS: check the pages for your region before relying on them.
 */
export const REQUEST_PRICES = {
  basis: 'us-east-1 list prices (aws.amazon.com/s3/pricing and /sqs/pricing, 2025; restated in 2026-06)',
  /** S3 Standard: PUT, COPY, POST, LIST requests (PutObjectTagging is a PUT), per 1,000. */
  s3PutCopyPostListPer1000: 0.005,
  /** S3 Standard: GET, SELECT and all other requests, per 1,000. */
  s3GetPer1000: 0.0004,
  /** SQS standard queue: per million requests (each 64 KiB of a request's payload counts as one). */
  sqsPerMillion: 0.4,
  /** S3 Object Tagging: per 10,000 tags stored, per month (a storage management charge, not a request). */
  s3TagsPer10000PerMonth: 0.01,
} as const;

/**
 * Fargate on demand, Linux/x86, us-east-1 (https://aws.amazon.com/fargate/pricing/,
 * 2025): what the benchmark's whole-task figures and docs/deploy.md's cost table
 * (deploy/lib/cost.ts) price compute with.
 */
export const FARGATE_PRICES = {
  basis: 'us-east-1 list prices (aws.amazon.com/fargate/pricing, 2025), Linux/x86, on demand',
  vcpuHour: 0.04048,
  gbHour: 0.004445,
  /** Ephemeral storage above the 20 GB every task gets, per GB-hour. */
  storageGbHourAbove20: 0.000111,
} as const;

export const usd = {
  s3Put: (requests: number) => (requests * REQUEST_PRICES.s3PutCopyPostListPer1000) / 1000,
  s3Get: (requests: number) => (requests * REQUEST_PRICES.s3GetPer1000) / 1000,
  sqs: (requests: number) => (requests * REQUEST_PRICES.sqsPerMillion) / 1e6,
  tagsPerMonth: (tags: number) => (tags * REQUEST_PRICES.s3TagsPer10000PerMonth) / 10_000,
};
