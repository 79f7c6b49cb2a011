import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createS3Client, createSqsClient } from '../aws/clients.ts';
import { isVersioned } from '../aws/listing.ts';
import { resolveQueueUrl } from '../aws/queue.ts';
import { commandSettings, type CommandSettings } from '../config/config.ts';
import { ConfigError } from '../config/variables.ts';
import { quoteValue } from '../events/text.ts';
import { parseS3Url } from '../aws/s3-url.ts';
import { listingPrefix, parseRate, parseSince, shellQuote } from '../rescan/options.ts';
import { rescan, type RescanResult, type RescanStats } from '../rescan/rescan.ts';
import { describeAwsFailure, isMissingBucket, isMissingQueue } from './aws-failure.ts';
import { realClock } from '../shared/time.ts';
import { readEnvironment } from '../config/env-file.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { UsageError } from './common.ts';
import { parseCommandLine } from './parse-args.ts';
import { formatCount, formatDuration, formatRate } from '../shared/format.ts';
import { Progress } from './progress.ts';

export const summary = 'Queue an S3 event for every object under a prefix, so the workers scan them again.';
export const synopsis = 'rescan s3://bucket[/prefix] [--since <time>] [--rate <n/s>] [--start-after <key>] [--dry-run] [--json]';
export const help = `Lists the current version of every object under the prefix and puts one
synthetic ObjectCreated event per object (the document S3 itself sends, with size,
eTag and versionId) on the inbound queue, so the running workers scan them again.
Each message carries the attribute bucketscan-origin=rescan; each record has
s3.configurationId "bucketscan-rescan".

The bucket must be UNPROCESSED_BUCKET_NAME; the quarantine bucket is never
rescanned. Keys the worker would reject are skipped and counted by reason.

The event is named ObjectCreated:Put (ObjectCreated:CompleteMultipartUpload for a
multipart ETag), eventVersion 2.1, with the key form-encoded and eventTime the
object's LastModified. It is put through the worker's own record check before it
is queued: a key the worker would reject (no <submission_guid>/ folder, an empty
filename, a control character…) is skipped, and the first 20 are printed. The
listing stays inside UNPROCESSED_PREFIX, and a QUARANTINE_PREFIX inside the bucket
is never rescanned. A versioned bucket is listed with ListObjectVersions (its
current versions, with their VersionId; a key whose latest entry is a delete
marker is left out): one request per 1,000 versions, cheaper than a HeadObject
per object until keys average about 80 versions. An unversioned bucket is listed
with ListObjectsV2. Tags are not read (that would be a request per object).
Events are sent with SendMessageBatch, ten at a time; the workers then handle
them exactly as uploads: clean files are forwarded again, infected ones
quarantined.

Options:
  --since <time>       only objects modified at or after <time>: ISO 8601
                       (2026-03-01, 2026-03-01T12:00:00Z; no zone means UTC)
                       or an age (90m, 24h, 7d, 2w)
  --rate <n>           at most n messages per second (e.g. 50, or 0.5), on average
                       (a token bucket; below 10/s the batches shrink so that no
                       second sees more than one batch over the rate)
  --start-after <key>  resume: skip every key up to and including <key>
  --dry-run            count what would be queued; queue nothing
  --json               the final summary on stdout as JSON instead of a line

Progress goes to stderr: a live line on a terminal, a line every 5 s otherwise.
Ctrl-C stops cleanly: the batch being sent is finished, and the command to
resume is printed.

Output: progress (listed, queued, skipped, rate, elapsed), then the skipped
counts by reason, on stderr; on stdout one summary line, e.g.
  queued 1,180 events for s3://unprocessed/ (1,200 listed, 20 skipped) in 12s
or with --json an object with status, listed, queued, skipped, skippedByReason,
older, resumeAfter and elapsedSeconds.

Stopping and resuming: Ctrl-C (SIGINT) or SIGTERM finishes the batch being sent,
queues nothing more, prints the command that resumes (bucketscan rescan …
--start-after '<key>', the last key up to which everything was queued or
skipped) and exits 130. A send that fails after the SDK's retries, or an entry
SQS refuses, stops the run the same way with exit 1; entries SQS failed on its
side are retried first. Nothing is dropped silently: resuming may queue a few
events twice, never miss one.

Exit codes: 0 done (skipped keys included), 1 an AWS call failed or SQS refused
events (the resume command is printed), 2 bad arguments or settings, a bucket or
queue that does not exist, or nothing at all under the prefix, 130 interrupted.
A --start-after past the last key is done (0); nothing at all under the prefix
is most likely a typo (2).

IAM: s3:GetBucketVersioning, s3:ListBucket (s3:ListBucketVersions on a
versioned bucket) on the bucket; sqs:GetQueueUrl, sqs:GetQueueAttributes and
sqs:SendMessage on the inbound queue.

Rescan events share the inbound queue with new uploads, which SQS hands out
roughly in arrival order, so a large rescan delays fresh uploads by its backlog.
Pick --rate below what the workers scan (workers x CONCURRENCY / the average
scan time); without it the batches go out one after another, a few hundred
events per second against AWS.

After a definitions update, the files scanned with older definitions are those
that were already there, so --since <time of the update> selects exactly the
wrong ones. Once clamd has loaded the new database (the worker logs the engine
version each file was scanned with), rescan everything, throttled:
  bucketscan rescan s3://unprocessed/ --rate 50
or, to bound the work, from the oldest upload you still care about:
  bucketscan rescan s3://unprocessed/ --since 30d --rate 50
(which also rescans the few files uploaded after the update: a scan each, nothing
else). Interrupted or failed? Run the printed command, which adds --start-after.

Examples:
  bucketscan rescan s3://unprocessed/                    every object
  bucketscan rescan s3://unprocessed/<submission_guid>/  one submission
  bucketscan rescan s3://unprocessed/ --since 7d --rate 50
  bucketscan rescan s3://unprocessed/ --dry-run          count only`;

const OPTIONS = {
  since: { type: 'string' },
  rate: { type: 'string' },
  'start-after': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Distinct reasons shown in the summary; skipped keys printed one by one. */
const MAX_SKIPPED_LINES = 20;

function optional<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    // Not set is fine for an optional check; a bad value is still refused.
    if (error instanceof ConfigError && /is required but not set/.test(error.message)) return undefined;
    throw error;
  }
}

interface Plan {
  url: string;
  bucket: string;
  prefix: string;
  since: Date | undefined;
  rate: number | undefined;
  startAfter: string | undefined;
  dryRun: boolean;
  json: boolean;
  quarantinePrefix: string | undefined;
}

/** Everything that can be refused before a single request. */
function plan(argv: string[], settings: CommandSettings, now: Date): Plan {
  const { values, positionals } = parseCommandLine('rescan', argv, OPTIONS, 1);
  const url = positionals[0];
  if (url === undefined) throw new UsageError('rescan: name what to rescan: s3://bucket or s3://bucket/prefix');
  const location = parseS3Url(url, 'prefix');
  if (!location.ok) throw new UsageError(`rescan: ${location.reason}`);
  const { bucket } = location.value;

  const quarantine = optional(() => settings.quarantine());
  const quarantineBucket = quarantine?.bucket;
  const quarantinePrefix = quarantine?.prefix ?? '';
  const unprocessed = settings.unprocessed();
  const unprocessedBucket = unprocessed.bucket;
  if (bucket === quarantineBucket) {
    // The quarantine area may share the unprocessed bucket under QUARANTINE_PREFIX.
    const sharesBucket = bucket === unprocessedBucket && quarantinePrefix !== '';
    if (!sharesBucket || location.value.key.startsWith(quarantinePrefix)) {
      throw new UsageError(
        `rescan: s3://${bucket}/${sharesBucket ? quarantinePrefix : ''} is the quarantine area (QUARANTINE_BUCKET_NAME${sharesBucket ? ', QUARANTINE_PREFIX' : ''}): it is never rescanned`,
      );
    }
  }
  if (bucket !== unprocessedBucket) {
    throw new UsageError(
      `rescan: bucket "${bucket}" is not the unprocessed bucket "${unprocessedBucket}" (UNPROCESSED_BUCKET_NAME): the worker would reject its events`,
    );
  }
  const prefix = listingPrefix(location.value.key, unprocessed.prefix);
  if (!prefix.ok) throw new UsageError(`rescan: ${prefix.reason}`);

  let since: Date | undefined;
  if (values.since !== undefined) {
    const parsed = parseSince(values.since, now);
    if (!parsed.ok) throw new UsageError(`rescan: ${parsed.reason}`);
    since = parsed.value;
  }
  let rate: number | undefined;
  if (values.rate !== undefined) {
    const parsed = parseRate(values.rate);
    if (!parsed.ok) throw new UsageError(`rescan: ${parsed.reason}`);
    rate = parsed.value;
  }
  const startAfter = values['start-after'];
  if (startAfter === '') throw new UsageError('rescan: --start-after needs a key');
  return {
    url,
    bucket,
    prefix: prefix.value,
    since,
    rate,
    startAfter,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
    quarantinePrefix: bucket === quarantineBucket ? quarantinePrefix : undefined,
  };
}

function statusLine(p: Plan, stats: RescanStats, elapsedMs: number): string {
  const parts = [
    `listed ${formatCount(stats.listed)}`,
    `${p.dryRun ? 'would queue' : 'queued'} ${formatCount(stats.queued)}`,
    `skipped ${formatCount(stats.skippedTotal)}`,
  ];
  if (p.since) parts.push(`older ${formatCount(stats.older)}`);
  parts.push(formatRate(stats.queued, elapsedMs), formatDuration(elapsedMs));
  return `rescan s3://${p.bucket}/${p.prefix}: ${parts.join(', ')}`;
}

function resumeCommand(p: Plan, after: string | undefined): string {
  const words = ['bucketscan', 'rescan', shellQuote(p.url)];
  if (p.since) words.push('--since', p.since.toISOString());
  if (p.rate !== undefined) words.push('--rate', String(p.rate));
  if (after !== undefined) words.push('--start-after', shellQuote(after));
  if (p.dryRun) words.push('--dry-run');
  return words.join(' ');
}

function summaryJson(p: Plan, result: RescanResult, elapsedMs: number, status: string) {
  return {
    status,
    bucket: p.bucket,
    prefix: p.prefix,
    dryRun: p.dryRun,
    since: p.since?.toISOString() ?? null,
    listed: result.stats.listed,
    queued: result.stats.queued,
    skipped: result.stats.skippedTotal,
    skippedByReason: Object.fromEntries(result.stats.skipped),
    older: result.stats.older,
    resumeAfter: status === 'done' ? null : (result.resumeAfter ?? null),
    elapsedSeconds: Math.round(elapsedMs / 100) / 10,
  };
}

export async function run(argv: string[]): Promise<number> {
  const settings = commandSettings(readEnvironment());
  const p = plan(argv, settings, new Date());
  const region = settings.aws('s3').region;
  const s3 = createS3Client(settings.aws('s3'));
  const sqs = createSqsClient(settings.aws('sqs'));
  const signal = shutdownSignal();
  const stderr = process.stderr;
  const fail = (what: string, error: unknown): number => {
    const failure = describeAwsFailure(what, error);
    stderr.write(`bucketscan: rescan: ${failure.line}\n`);
    return failure.exitCode;
  };
  try {
    // Checked up front, also for a dry run: a wrong queue is better found now.
    const queueRef = settings.inboundQueue();
    const queueName = 'url' in queueRef ? queueRef.url : queueRef.name;
    let queueUrl: string;
    try {
      queueUrl = await resolveQueueUrl(sqs, queueRef, signal);
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }), { abortSignal: signal });
    } catch (error) {
      if (isMissingQueue(error)) {
        stderr.write(
          `bucketscan: rescan: the inbound queue "${queueName}" does not exist (VIRUS_SCANNING_QUEUE_${'url' in queueRef ? 'URL' : 'NAME'})\n`,
        );
        return 2;
      }
      if (signal.aborted) return 130;
      return fail(`look up the inbound queue "${queueName}"`, error);
    }
    let versioned: boolean;
    try {
      versioned = await isVersioned(s3, p.bucket, signal);
    } catch (error) {
      if (isMissingBucket(error)) {
        stderr.write(`bucketscan: rescan: bucket "${p.bucket}" does not exist\n`);
        return 2;
      }
      if (signal.aborted) return 130;
      return fail(`read the versioning of bucket "${p.bucket}"`, error);
    }

    let latest: RescanStats = { listed: 0, queued: 0, skipped: new Map(), skippedTotal: 0, older: 0 };
    const progress = new Progress({
      stream: stderr,
      tty: stderr.isTTY === true,
      clock: realClock,
      render: (elapsedMs) => statusLine(p, latest, elapsedMs),
    });
    let skippedLines = 0;
    const result = await rescan({
      s3,
      sqs,
      queueUrl,
      bucket: p.bucket,
      prefix: p.prefix,
      ...(p.startAfter !== undefined ? { startAfter: p.startAfter } : {}),
      versioned,
      rules: {
        bucket: p.bucket,
        prefix: settings.unprocessed().prefix,
        ...(p.quarantinePrefix ? { quarantinePrefix: p.quarantinePrefix } : {}),
        ...(p.since ? { since: p.since } : {}),
        region,
      },
      dryRun: p.dryRun,
      ...(p.rate !== undefined ? { rate: p.rate } : {}),
      signal,
      onProgress: (stats) => {
        latest = stats;
        progress.update();
      },
      onSkip: (key, reason) => {
        skippedLines += 1;
        if (skippedLines <= MAX_SKIPPED_LINES) progress.line(`skipped ${quoteValue(key, 300)}: ${reason}`);
        else if (skippedLines === MAX_SKIPPED_LINES + 1) progress.line('(further skipped keys are only counted)');
      },
    });
    const elapsedMs = progress.elapsedMs();
    progress.stop();
    return report(p, result, elapsedMs, fail);
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}

function report(p: Plan, result: RescanResult, elapsedMs: number, fail: (what: string, error: unknown) => number): number {
  const { stats, outcome } = result;
  const stderr = process.stderr;
  const where = `s3://${p.bucket}/${p.prefix}`;
  for (const [reason, count] of [...stats.skipped].sort((a, b) => b[1] - a[1]).slice(0, MAX_SKIPPED_LINES)) {
    stderr.write(`  skipped ${formatCount(count)}: ${reason}\n`);
  }
  const status = outcome.kind === 'done' ? 'done' : outcome.kind;
  let code = 0;
  if (outcome.kind === 'done' && stats.listed === 0 && p.startAfter === undefined) {
    // Most likely a mistyped prefix: a bad argument like any other (exit 2, one line).
    stderr.write(`bucketscan: rescan: no objects under ${where}: check the bucket and prefix\n`);
    if (p.json) process.stdout.write(`${JSON.stringify(summaryJson(p, result, elapsedMs, 'empty'))}\n`);
    return 2;
  }
  if (outcome.kind === 'interrupted') {
    stderr.write(`rescan interrupted; to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
    code = 130;
  } else if (outcome.kind === 'failed') {
    code = fail(`rescan of ${where} stopped`, outcome.error);
    stderr.write(`to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
  } else if (outcome.kind === 'rejected') {
    for (const failure of outcome.failures.slice(0, 10)) {
      stderr.write(`bucketscan: rescan: SQS refused the event for ${quoteValue(failure.key, 300)}: ${failure.code}: ${failure.message}\n`);
    }
    stderr.write(`to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
    code = 1;
  }
  if (p.json) {
    process.stdout.write(`${JSON.stringify(summaryJson(p, result, elapsedMs, status))}\n`);
  } else {
    const verb = p.dryRun ? 'would queue' : 'queued';
    const details = [`${formatCount(stats.listed)} listed`, `${formatCount(stats.skippedTotal)} skipped`];
    if (p.since) details.push(`${formatCount(stats.older)} modified before ${p.since.toISOString()}`);
    process.stdout.write(
      `${status === 'done' ? '' : `${status}: `}${verb} ${formatCount(stats.queued)} event${stats.queued === 1 ? '' : 's'} for ${where} (${details.join(', ')}) in ${formatDuration(elapsedMs)}\n`,
    );
  }
  return code;
}
