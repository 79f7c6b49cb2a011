import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createS3Client, createSqsClient } from '../aws/clients.ts';
import { hasColumn, InventoryError, readInventory, readManifest, type InventoryManifest } from '../aws/inventory.ts';
import { isVersioned, listCurrentObjects } from '../aws/listing.ts';
import { QUEUE_NAME, QUEUE_URL, queueNameOf, resolveQueueUrl, type QueueRef } from '../aws/queue.ts';
import { parseS3Url, type S3Location } from '../aws/s3-url.ts';
import { commandSettings, type CommandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import { findSource, type Source } from '../config/sources.ts';
import { ConfigError } from '../config/variables.ts';
import { quoteValue } from '../events/text.ts';
import {
  estimateCost,
  estimateDuration,
  fleetFromInFlight,
  formatUsd,
  keyspaceFraction,
  remainingMs,
  WORKER_BYTES_PER_SECOND,
  WORKER_FILES_PER_SECOND,
  type Fleet,
} from '../rescan/estimate.ts';
import { parseRate, parseSince, quarantineProblem, resolveArea, shellQuote, type AreasOrigin } from '../rescan/options.ts';
import type { RescanRules } from '../rescan/plan.ts';
import { emptyStats, rescan, type ObjectPage, type RescanResult, type RescanStats } from '../rescan/rescan.ts';
import { formatBytes, formatCount, formatDuration, formatRate } from '../shared/format.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { realClock } from '../shared/time.ts';
import { describeAwsFailure, isMissingBucket, isMissingQueue } from './aws-failure.ts';
import { UsageError } from './common.ts';
import { parseCommandLine } from './parse-args.ts';
import { Progress } from './progress.ts';

export const summary = 'Queue an S3 event for every object under a prefix, so the workers scan them again.';
export const synopsis =
  'rescan s3://bucket[/prefix] | --inventory s3://…/manifest.json [--queue <name|url>] [--since <time>] [--rate <n/s>] [--dry-run] [--json]';
export const help = `Puts one synthetic ObjectCreated event per current object (the document S3 itself
sends, with size, eTag and versionId) on a queue the workers read, so that they
scan the objects again: RESCAN_QUEUE when it is set, else the inbound queue;
--queue names another. Each message carries the attribute bucketscan-origin=rescan;
each record has s3.configurationId "bucketscan-rescan".

Which queue: rescan events on the inbound queue share it with new uploads, which
SQS hands out roughly in arrival order, so a large rescan there delays every
fresh upload by its backlog. A worker with RESCAN_QUEUE set reads that queue only
with the capacity live uploads leave free (docs/configuration.md): set RESCAN_QUEUE
for the workers and for rescan, and a backfill of millions of objects never holds
up an upload's verdict. Without it, pick --rate below what the workers scan.

Where the objects come from:
  a listing (the default) of s3://bucket/prefix: ListObjectVersions on a
    versioned bucket (its current versions, with their VersionId; a key whose
    latest entry is a delete marker is left out), ListObjectsV2 otherwise, one
    request per 1,000 entries, in key order;
  an S3 Inventory report (--inventory): its manifest.json and the data files it
    lists, CSV (gzip'd; keys URL-encoded, decoded as S3 Inventory documents) or
    Parquet; ORC is refused. A report of all versions gives each key's current
    version (IsLatest, not a delete marker). For buckets of tens of millions of
    objects: a GET per data file instead of a LIST per 1,000 keys, streamed, never
    held whole (a CSV file a page of rows at a time, a Parquet file a row group at
    a time). The report lists the bucket as it was when S3 made it: objects
    written since are not in it (add them with a listing and --since). Each data
    file is checked against the manifest's size before and MD5 after it is read.

Which objects: the bucket must be one the worker scans: UNPROCESSED_BUCKET_NAME,
or with SOURCES_FILE (or SOURCES) the bucket of a source (docs/configuration.md). A listing
stays inside the one source the URL lies in (a URL wider than one source's folder
is narrowed to it; one spanning several sources of a bucket is refused: rescan
each). An inventory report's rows are judged each by the source its key falls in;
a URL beside --inventory keeps only keys under it. Each event is put through the
worker's own record check, with its source's key rules (keyLayout, prefix), before
it is queued: a key the worker would reject (no <submission_guid>/ folder, an
empty filename, a control character, outside every source…) is skipped, counted
by reason, and the first 20 are printed. Quarantine areas (QUARANTINE_BUCKET_NAME
and QUARANTINE_PREFIX, or the sources' quarantineBucket and quarantinePrefix) are
never rescanned. Tags are not read (that would be a request per object).

The event is named ObjectCreated:Put (ObjectCreated:CompleteMultipartUpload for a
multipart ETag), eventVersion 2.1, with the key form-encoded and eventTime the
object's LastModified. Events are sent with SendMessageBatch, ten at a time; the
workers then handle them exactly as uploads: clean files are forwarded again,
infected ones quarantined.

Options:
  --queue <name|url>     queue the events here instead (default RESCAN_QUEUE, else
                         the inbound queue); a FIFO queue is refused
  --inventory <s3 URL>   read the objects from this S3 Inventory manifest.json
  --since <time>         only objects modified at or after <time>: ISO 8601
                         (2026-03-01, 2026-03-01T12:00:00Z; no zone means UTC)
                         or an age (90m, 24h, 7d, 2w)
  --rate <n>             at most n messages per second (e.g. 50, or 0.5), on average
                         (a token bucket; below 10/s the batches shrink so that no
                         second sees more than one batch over the rate)
  --start-after <key>    resume a listing: skip every key up to and including <key>
  --start-after-row <n>  resume an inventory report: skip its first n rows
  --dry-run              count what would be queued, and estimate the time and the
                         cost; queue nothing
  --fleet <n>            workers scanning, for --dry-run's estimate (default: read
                         from the queues, below)
  --json                 the final summary on stdout as JSON instead of lines

Before a large rescan, --dry-run prints (after reading everything that would be
queued, and sending nothing):
  - the objects and their bytes;
  - the expected duration at the current fleet size: the longer of the fleet's
    scanning time and --rate's. The fleet's size is --fleet, else read from the
    messages the workers hold (ApproximateNumberOfMessagesNotVisible on the inbound
    queue and the target queue, divided by CONCURRENCY + RECEIVE_AHEAD, which each
    worker holds at most when busy); an idle fleet holds none and counts as one
    worker (it scales out once the events wait). Each worker is taken to scan
    about ${WORKER_FILES_PER_SECOND} small files a second or ${WORKER_BYTES_PER_SECOND / 1024 / 1024} MiB/s (the
    assumption of docs/deploy.md's cost table: a 1-vCPU task against S3). Live
    uploads take their share first;
  - the request cost, for clean files, at us-east-1 list prices (S3 PUT, COPY, POST,
    LIST $0.005 and GET $0.0004 per 1,000; SQS $0.40 per million; from AWS's
    pricing pages as of 2025, unchanged in restatements of 2026-06; check yours):
    rescan's LISTs or inventory GETs and SendMessageBatch (one per 10 events), and
    the workers' GetObject, PutObjectTagging (where the source writes the status
    tag) and SQS requests (about one per file: receive, delete, forward). An
    infected file costs its quarantine besides. The status tags kept cost $0.01
    per 10,000 a month.

Progress goes to stderr: listed, queued, skipped, the rate, the time so far and
an ETA with the share done (from the report's bytes read for an inventory; for a
listing of submission keys from the position of the last key in the key space,
since submission GUIDs are random; no ETA for other listings). A live line on a
terminal, a line every 5 s otherwise.

Output: progress, then the skipped counts by reason, on stderr; on stdout one
summary line, e.g.
  queued 1,180 events for s3://unprocessed/ (1,200 listed, 20 skipped) in 12s on virus-scanning
and with --dry-run the estimate after it; or with --json an object with status,
queue, listed, queued, bytes, skipped, skippedByReason, older, resumeAfter,
elapsedSeconds, and with --dry-run estimate.

Stopping and resuming: Ctrl-C (SIGINT) or SIGTERM finishes the batch being sent,
queues nothing more, prints the command that resumes (with --start-after '<key>',
the last key up to which everything was queued or skipped, or for a report
--start-after-row <n>) and exits 130. A send that fails after the SDK's retries,
an entry SQS refuses, or a data file that cannot be read stops the run the same
way with exit 1; entries SQS failed on its side are retried first. Nothing is
dropped silently: resuming may queue a few events twice, never miss one.

Exit codes: 0 done (skipped keys included), 1 an AWS call failed, SQS refused
events or a report's data file was bad (the resume command is printed), 2 bad
arguments or settings (one line: a malformed URL or option, a bucket or prefix no
source scans, the quarantine area, a manifest that is missing or not an
inventory manifest, a bucket or queue that does not exist), or nothing at all
under the prefix, 130 interrupted. A --start-after past the last key is done (0).

IAM: on the bucket, s3:GetBucketVersioning and s3:ListBucket
(s3:ListBucketVersions on a versioned bucket), or with --inventory s3:GetObject
on the manifest and its data files; sqs:GetQueueUrl, sqs:GetQueueAttributes and
sqs:SendMessage on the target queue (and sqs:GetQueueAttributes on the inbound
queue for --dry-run's fleet).

After a definitions update, the files scanned with older definitions are those
that were already there, so --since <time of the update> selects exactly the
wrong ones. Once clamd has loaded the new database (the worker logs the engine
version each file was scanned with), rescan everything:
  bucketscan rescan s3://unprocessed/            (with RESCAN_QUEUE set)
  bucketscan rescan s3://unprocessed/ --rate 50  (without)
or, to bound the work, from the oldest upload you still care about:
  bucketscan rescan s3://unprocessed/ --since 30d
Interrupted or failed? Run the printed command.

Examples:
  bucketscan rescan s3://unprocessed/                    every object
  bucketscan rescan s3://unprocessed/<submission_guid>/  one submission
  bucketscan rescan s3://unprocessed/ --since 7d --rate 50
  bucketscan rescan s3://unprocessed/ --dry-run          count, time and cost only
  bucketscan rescan --inventory s3://inventory/unprocessed/daily/2026-12-05T01-00Z/manifest.json --dry-run
  bucketscan rescan s3://unprocessed/ --queue bucketscan-rescan`;

const OPTIONS = {
  queue: { type: 'string' },
  inventory: { type: 'string' },
  since: { type: 'string' },
  rate: { type: 'string' },
  'start-after': { type: 'string' },
  'start-after-row': { type: 'string' },
  fleet: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Distinct reasons shown in the summary; skipped keys printed one by one. */
const MAX_SKIPPED_LINES = 20;
const MAX_FLEET = 10_000;

/** The arguments, checked before any setting or request. */
interface Arguments {
  /** The positional URL as given, and read. */
  url: string | undefined;
  location: S3Location | undefined;
  inventory: { url: string; location: S3Location } | undefined;
  queue: QueueRef | undefined;
  since: Date | undefined;
  rate: number | undefined;
  startAfter: string | undefined;
  startAfterRow: number | undefined;
  fleet: number | undefined;
  dryRun: boolean;
  json: boolean;
}

function parseArguments(argv: string[], now: Date): Arguments {
  const { values, positionals } = parseCommandLine('rescan', argv, OPTIONS, 1);
  const url = positionals[0];
  const inventoryUrl = values.inventory;
  if (url === undefined && inventoryUrl === undefined) {
    throw new UsageError('rescan: name what to rescan: s3://bucket or s3://bucket/prefix (or --inventory s3://…/manifest.json)');
  }
  let location: S3Location | undefined;
  if (url !== undefined) {
    const parsed = parseS3Url(url, 'prefix');
    if (!parsed.ok) throw new UsageError(`rescan: ${parsed.reason}`);
    location = parsed.value;
  }
  let inventory: Arguments['inventory'];
  if (inventoryUrl !== undefined) {
    const parsed = parseS3Url(inventoryUrl, 'object');
    if (!parsed.ok) throw new UsageError(`rescan: --inventory: ${parsed.reason}`);
    if (parsed.value.key.endsWith('/')) throw new UsageError('rescan: --inventory names a folder: name its manifest.json');
    inventory = { url: inventoryUrl, location: parsed.value };
  }
  let queue: QueueRef | undefined;
  if (values.queue !== undefined) {
    const text = values.queue.trim();
    if (QUEUE_URL.test(text)) queue = { url: text };
    else if (QUEUE_NAME.test(text)) queue = { name: text };
    else throw new UsageError(`rescan: --queue ${JSON.stringify(values.queue)} is neither an SQS queue name nor an http(s) queue URL`);
  }
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
  if (startAfter !== undefined && inventory) {
    throw new UsageError("rescan: --start-after resumes a listing; an inventory report's rows are not in key order: use --start-after-row");
  }
  let startAfterRow: number | undefined;
  if (values['start-after-row'] !== undefined) {
    if (!inventory) throw new UsageError('rescan: --start-after-row resumes an inventory report: it needs --inventory');
    startAfterRow = wholeNumber('--start-after-row', values['start-after-row'], 0, Number.MAX_SAFE_INTEGER);
  }
  const fleet = values.fleet === undefined ? undefined : wholeNumber('--fleet', values.fleet, 1, MAX_FLEET);
  return {
    url,
    location,
    inventory,
    queue,
    since,
    rate,
    startAfter,
    startAfterRow,
    fleet,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
  };
}

function wholeNumber(option: string, text: string, min: number, max: number): number {
  const value = text.trim();
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `rescan: ${option} must be a whole number from ${formatCount(min)} to ${formatCount(max)}, got ${JSON.stringify(text)}`,
    );
  }
  return Number(value);
}

/** The sources rescan judges keys by: SOURCES_FILE's, or the one the single-bucket variables describe. */
async function readSources(settings: CommandSettings): Promise<{ sources: Source[]; origin: AreasOrigin }> {
  const file = await settings.sources();
  if (file) return { sources: file.sources, origin: { file: file.origin } };
  const unprocessed = settings.unprocessed();
  let quarantine: { bucket: string; prefix: string } | undefined;
  try {
    quarantine = settings.quarantine();
  } catch (error) {
    // Not set is fine: there is then no quarantine area to keep out. A bad value is still refused.
    if (!(error instanceof ConfigError && /is required but not set/.test(error.message))) throw error;
  }
  const source: Source = {
    label: 'UNPROCESSED_BUCKET_NAME',
    bucket: unprocessed.bucket,
    prefix: unprocessed.prefix,
    keyLayout: 'submission',
    // '' names no bucket: without QUARANTINE_BUCKET_NAME there is no area to keep out.
    quarantine: { bucket: quarantine?.bucket ?? '', prefix: quarantine?.prefix ?? '' },
    validationQueue: undefined,
    notificationTopicArn: undefined,
    statusTag: optionalSetting(() => settings.statusTag()),
  };
  return { sources: [source], origin: {} };
}

/** The queue the events go on, and how messages name where it came from. */
interface Target {
  ref: QueueRef;
  name: string;
  /** --queue, RESCAN_QUEUE, or the inbound queue's variable. */
  from: string;
  inbound: boolean;
}

function targetQueue(args: Arguments, settings: CommandSettings): Target {
  const inbound = optionalSetting(() => settings.inboundQueue());
  const rescanQueue = settings.rescanQueue();
  const chosen: Omit<Target, 'name' | 'inbound'> | undefined = args.queue
    ? { ref: args.queue, from: '--queue' }
    : rescanQueue
      ? { ref: rescanQueue, from: 'RESCAN_QUEUE' }
      : inbound
        ? { ref: inbound, from: `VIRUS_SCANNING_QUEUE_${'url' in inbound ? 'URL' : 'NAME'}` }
        : undefined;
  if (!chosen) {
    // The inbound queue's own error: required but not set.
    settings.inboundQueue();
    throw new UsageError('rescan: no queue to put the events on: set RESCAN_QUEUE or VIRUS_SCANNING_QUEUE_NAME, or pass --queue');
  }
  const name = queueNameOf(chosen.ref);
  if (name.endsWith('.fifo')) {
    throw new UsageError(`rescan: ${chosen.from}: "${name}" is a FIFO queue: rescan sends standard messages, which a FIFO queue refuses`);
  }
  const isInbound = inbound !== undefined && queueNameOf(inbound) === name;
  return { ...chosen, name, inbound: isInbound };
}

function optionalSetting<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof ConfigError && /is required but not set/.test(error.message)) return undefined;
    throw error;
  }
}

/** Everything resolved: what to read, by which rules, where to. */
interface Plan {
  args: Arguments;
  /** s3://bucket/prefix, for the messages. */
  where: string;
  bucket: string;
  prefix: string;
  rules: RescanRules;
  target: Target;
  /** The sources whose objects may be queued (one for a listing). */
  sources: Source[];
  manifest: InventoryManifest | undefined;
}

function statusLine(p: Plan, stats: RescanStats, elapsedMs: number, eta: string | undefined): string {
  const parts = [
    `listed ${formatCount(stats.listed)}`,
    `${p.args.dryRun ? 'would queue' : 'queued'} ${formatCount(stats.queued)}`,
    `skipped ${formatCount(stats.skippedTotal)}`,
  ];
  if (p.args.since) parts.push(`older ${formatCount(stats.older)}`);
  parts.push(formatRate(p.args.dryRun ? stats.listed : stats.queued, elapsedMs), formatDuration(elapsedMs));
  if (eta) parts.push(eta);
  return `rescan ${p.where}: ${parts.join(', ')}`;
}

function resumeCommand(p: Plan, after: string | undefined): string {
  const words = ['bucketscan', 'rescan'];
  if (p.args.url !== undefined) words.push(shellQuote(p.args.url));
  if (p.args.inventory) words.push('--inventory', shellQuote(p.args.inventory.url));
  if (p.args.queue) words.push('--queue', shellQuote('url' in p.args.queue ? p.args.queue.url : p.args.queue.name));
  if (p.args.since) words.push('--since', p.args.since.toISOString());
  if (p.args.rate !== undefined) words.push('--rate', String(p.args.rate));
  if (after !== undefined) words.push(p.manifest ? '--start-after-row' : '--start-after', p.manifest ? after : shellQuote(after));
  if (p.args.dryRun) words.push('--dry-run');
  return words.join(' ');
}

export async function run(argv: string[]): Promise<number> {
  const settings = commandSettings(readEnvironment());
  const args = parseArguments(argv, new Date());
  const { sources, origin } = await readSources(settings);
  // Everything that can be refused without a request, refused before one.
  let listing: ReturnType<typeof resolveArea<Source>> | undefined;
  if (!args.inventory) {
    listing = resolveArea(sources, origin, args.location!.bucket, args.location!.key);
    if (!listing.ok) throw new UsageError(`rescan: ${listing.reason}`);
  } else if (args.location) {
    const quarantined = quarantineProblem(sources, origin, args.location.bucket, args.location.key);
    if (quarantined) throw new UsageError(`rescan: ${quarantined}`);
  }
  const target = targetQueue(args, settings);
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
  const refuse = (line: string): number => {
    stderr.write(`bucketscan: rescan: ${line}\n`);
    return 2;
  };
  try {
    // Checked up front, also for a dry run: a wrong queue is better found now.
    let queueUrl: string;
    let targetInFlight = 0;
    try {
      queueUrl = await resolveQueueUrl(sqs, target.ref, signal);
      targetInFlight = await inFlight(sqs, queueUrl, signal);
    } catch (error) {
      if (isMissingQueue(error)) {
        const which = target.inbound ? 'the inbound queue' : 'the queue';
        return refuse(`${which} "${target.name}" does not exist (${target.from})`);
      }
      if (signal.aborted) return 130;
      return fail(`look up the queue "${target.name}" (${target.from})`, error);
    }

    let plan: Plan;
    let pages: AsyncIterable<ObjectPage>;
    const since = args.since ? { since: args.since } : {};
    if (listing?.ok) {
      const { area, prefix, quarantinePrefixes } = listing.value;
      let versioned: boolean;
      try {
        versioned = await isVersioned(s3, area.bucket, signal);
      } catch (error) {
        if (isMissingBucket(error)) return refuse(`bucket "${area.bucket}" does not exist`);
        if (signal.aborted) return 130;
        return fail(`read the versioning of bucket "${area.bucket}"`, error);
      }
      // A listing of a whole submission source walks the GUIDs' key space evenly.
      const fractionOf =
        area.keyLayout === 'submission' && prefix === area.prefix ? (key: string) => keyspaceFraction(key, prefix) : undefined;
      plan = {
        args,
        where: `s3://${area.bucket}/${prefix}`,
        bucket: area.bucket,
        prefix,
        rules: {
          bucket: area.bucket,
          prefix: area.prefix,
          keyLayout: area.keyLayout,
          source: area.label,
          quarantinePrefixes,
          region,
          ...since,
        },
        target,
        sources: [area],
        manifest: undefined,
      };
      pages = withKeyspaceFraction(
        listCurrentObjects(s3, {
          bucket: area.bucket,
          prefix,
          ...(args.startAfter !== undefined ? { startAfter: args.startAfter } : {}),
          versioned,
          signal,
        }),
        fractionOf,
      );
    } else {
      const inventory = args.inventory!;
      let manifest: InventoryManifest;
      try {
        manifest = await readManifest(s3, inventory.location, signal);
      } catch (error) {
        if (error instanceof InventoryError) return refuse(error.message);
        if (isMissingBucket(error)) return refuse(`--inventory: bucket "${inventory.location.bucket}" does not exist`);
        if ((error as { name?: unknown }).name === 'NoSuchKey') return refuse(`--inventory: no manifest at ${inventory.url}`);
        if (signal.aborted) return 130;
        return fail(`read the inventory manifest ${inventory.url}`, error);
      }
      const bucket = manifest.sourceBucket;
      if (args.location && args.location.bucket !== bucket) {
        return refuse(`the inventory report lists bucket "${bucket}", not "${args.location.bucket}"`);
      }
      const prefix = args.location?.key ?? '';
      const quarantined = quarantineProblem(sources, origin, bucket, prefix);
      if (quarantined) return refuse(quarantined);
      // Several sources of the bucket are fine here: each row goes by its own.
      const covered = sources.filter(
        (source) => source.bucket === bucket && (source.prefix.startsWith(prefix) || prefix.startsWith(source.prefix)),
      );
      if (covered.length === 0) {
        const why = resolveArea(sources, origin, bucket, prefix);
        return refuse(why.ok ? `no source scans s3://${bucket}/${prefix}` : why.reason);
      }
      if (args.since && !hasColumn(manifest, 'LastModifiedDate')) {
        return refuse("--since needs the report's LastModifiedDate column, which this inventory does not have");
      }
      const quarantinePrefixes = sources.filter((source) => source.quarantine.bucket === bucket).map((source) => source.quarantine.prefix);
      plan = {
        args,
        where: `s3://${bucket}/${prefix}`,
        bucket,
        prefix,
        rules: {
          bucket,
          prefix: '',
          sourceOf: (key) => {
            const match = findSource(covered, bucket, key);
            if (!match.ok) return match;
            return { ok: true, rules: { prefix: match.source.prefix, keyLayout: match.source.keyLayout, source: match.source.label } };
          },
          quarantinePrefixes,
          region,
          ...since,
        },
        target,
        sources: covered,
        manifest,
      };
      pages = readInventory(s3, manifest, {
        prefix,
        ...(args.startAfterRow !== undefined ? { startAfterRow: args.startAfterRow } : {}),
        signal,
      });
    }

    let latest = emptyStats();
    let startFraction: number | undefined;
    const eta = (elapsedMs: number): string | undefined => {
      const fraction = latest.fraction;
      if (fraction === undefined) return undefined;
      startFraction ??= fraction;
      const left = remainingMs(startFraction, fraction, elapsedMs);
      const share = `${Math.floor(fraction * 100)}%`;
      return left === undefined ? `${share} done` : `${share} done, ETA ${formatDuration(left)}`;
    };
    const progress = new Progress({
      stream: stderr,
      tty: stderr.isTTY === true,
      clock: realClock,
      render: (elapsedMs) => statusLine(plan, latest, elapsedMs, eta(elapsedMs)),
    });
    let skippedLines = 0;
    let pagesRead = 0;
    const counted = async function* (): AsyncGenerator<ObjectPage> {
      for await (const page of pages) {
        pagesRead += 1;
        yield page;
      }
    };
    const result = await rescan({
      pages: counted(),
      sqs,
      queueUrl,
      ...(args.startAfter !== undefined ? { startAfter: args.startAfter } : {}),
      ...(args.startAfterRow !== undefined ? { startAfter: String(args.startAfterRow) } : {}),
      rules: plan.rules,
      dryRun: args.dryRun,
      ...(args.rate !== undefined ? { rate: args.rate } : {}),
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
    let estimate: EstimateReport | undefined;
    if (args.dryRun && result.outcome.kind === 'done') {
      const fleet =
        args.fleet !== undefined
          ? { workers: args.fleet, basis: '--fleet' }
          : await readFleet(settings, sqs, target, targetInFlight, signal);
      estimate = estimateReport(plan, result.stats, fleet, {
        listRequests: plan.manifest ? 0 : Math.max(pagesRead, 1),
        inventoryGets: plan.manifest ? inventoryGets(plan.manifest) : 0,
      });
    }
    return report(plan, result, elapsedMs, fail, estimate);
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}

/** Adds the key-space share of each page's last key, when a listing can tell it. */
async function* withKeyspaceFraction(
  pages: AsyncIterable<ObjectPage>,
  fractionOf: ((key: string) => number | undefined) | undefined,
): AsyncGenerator<ObjectPage> {
  for await (const page of pages) {
    const last = page.objects.at(-1);
    yield fractionOf && last ? { ...page, fraction: fractionOf(last.key) } : page;
  }
}

/** GETs of a report: the manifest, and one per data file (a Parquet file takes a few ranged GETs more). */
function inventoryGets(manifest: InventoryManifest): number {
  return 1 + manifest.files.length * (manifest.format === 'CSV' ? 1 : 3);
}

async function inFlight(sqs: SQSClient, queueUrl: string, signal: AbortSignal): Promise<number> {
  const response = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn', 'ApproximateNumberOfMessagesNotVisible'] }),
    { abortSignal: signal },
  );
  return Number(response.Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? 0) || 0;
}

/** The fleet's size from the messages it holds on the inbound queue and the target queue. */
async function readFleet(
  settings: CommandSettings,
  sqs: SQSClient,
  target: Target,
  targetInFlight: number,
  signal: AbortSignal,
): Promise<Fleet> {
  const tuning = settings.tuning();
  let held = targetInFlight;
  const inbound = optionalSetting(() => settings.inboundQueue());
  if (inbound && !target.inbound) {
    try {
      held += await inFlight(sqs, await resolveQueueUrl(sqs, inbound, signal), signal);
    } catch {
      // The estimate does without the inbound queue's share; the rescan itself does not need it.
    }
  }
  return fleetFromInFlight(held, tuning.concurrency + tuning.receiveAhead);
}

interface EstimateReport {
  objects: number;
  bytes: number;
  fleet: Fleet;
  duration: ReturnType<typeof estimateDuration>;
  cost: ReturnType<typeof estimateCost>;
  inbound: boolean;
  target: string;
}

function estimateReport(p: Plan, stats: RescanStats, fleet: Fleet, reads: { listRequests: number; inventoryGets: number }): EstimateReport {
  let tagged = 0;
  for (const source of p.sources) {
    // A source's statusTag is the key the worker writes there (undefined: none).
    if (source.statusTag !== undefined) tagged += stats.queuedBySource.get(source.label) ?? 0;
  }
  return {
    objects: stats.queued,
    bytes: stats.bytes,
    fleet,
    duration: estimateDuration(stats.queued, stats.bytes, fleet.workers, p.args.rate),
    cost: estimateCost({ objects: stats.queued, tagged, listRequests: reads.listRequests, inventoryGets: reads.inventoryGets }),
    inbound: p.target.inbound,
    target: p.target.name,
  };
}

function estimateLines(e: EstimateReport): string[] {
  const workers = `${formatCount(e.fleet.workers)} worker${e.fleet.workers === 1 ? '' : 's'}`;
  const bound = e.duration.bound === 'rate' ? ', bound by --rate' : '';
  const lines = [
    `  objects: ${formatCount(e.objects)}, ${formatBytes(e.bytes)}`,
    `  expected duration: ${formatDuration(e.duration.seconds * 1000)} at ${workers}${bound} (fleet: ${e.fleet.basis}; ${WORKER_FILES_PER_SECOND} files/s or ${WORKER_BYTES_PER_SECOND / 1024 / 1024} MiB/s a worker, live uploads first)`,
    `  request cost: ${formatUsd(e.cost.totalUsd)} for clean files (${e.cost.basis})`,
  ];
  for (const who of ['rescan', 'workers'] as const) {
    const parts = e.cost.lines
      .filter((line) => line.who === who)
      .map((line) => `${formatCount(line.requests)} ${line.what} ${formatUsd(line.usd)}`);
    lines.push(`    ${who}: ${parts.join(', ')}`);
  }
  if (e.cost.tagsPerMonthUsd > 0) lines.push(`  status tags kept: ${formatUsd(e.cost.tagsPerMonthUsd)} a month`);
  lines.push(
    e.inbound
      ? `  queue: "${e.target}", the inbound queue: uploads wait behind these events (set RESCAN_QUEUE, or --rate)`
      : `  queue: "${e.target}"`,
  );
  return lines;
}

function estimateJson(e: EstimateReport) {
  return {
    objects: e.objects,
    bytes: e.bytes,
    workers: e.fleet.workers,
    fleetBasis: e.fleet.basis,
    durationSeconds: Math.round(e.duration.seconds),
    durationBound: e.duration.bound,
    costUsd: Math.round(e.cost.totalUsd * 100) / 100,
    requests: e.cost.lines.map((line) => ({ by: line.who, request: line.what, count: line.requests, usd: line.usd })),
    statusTagsPerMonthUsd: e.cost.tagsPerMonthUsd,
    prices: e.cost.basis,
  };
}

function summaryJson(p: Plan, result: RescanResult, elapsedMs: number, status: string, estimate: EstimateReport | undefined) {
  return {
    status,
    bucket: p.bucket,
    prefix: p.prefix,
    inventory: p.args.inventory?.url ?? null,
    queue: p.target.name,
    dryRun: p.args.dryRun,
    since: p.args.since?.toISOString() ?? null,
    listed: result.stats.listed,
    queued: result.stats.queued,
    bytes: result.stats.bytes,
    skipped: result.stats.skippedTotal,
    skippedByReason: Object.fromEntries(result.stats.skipped),
    older: result.stats.older,
    resumeAfter: status === 'done' ? null : (result.resumeAfter ?? null),
    elapsedSeconds: Math.round(elapsedMs / 100) / 10,
    ...(estimate ? { estimate: estimateJson(estimate) } : {}),
  };
}

function report(
  p: Plan,
  result: RescanResult,
  elapsedMs: number,
  fail: (what: string, error: unknown) => number,
  estimate: EstimateReport | undefined,
): number {
  const { stats, outcome } = result;
  const stderr = process.stderr;
  for (const [reason, count] of [...stats.skipped].sort((a, b) => b[1] - a[1]).slice(0, MAX_SKIPPED_LINES)) {
    stderr.write(`  skipped ${formatCount(count)}: ${reason}\n`);
  }
  const status = outcome.kind === 'done' ? 'done' : outcome.kind;
  const resuming = p.args.startAfter !== undefined || p.args.startAfterRow !== undefined;
  let code = 0;
  if (outcome.kind === 'done' && stats.listed === 0 && !resuming) {
    // Most likely a mistyped prefix: a bad argument like any other (exit 2, one line).
    stderr.write(`bucketscan: rescan: no objects under ${p.where}: check the bucket and prefix\n`);
    if (p.args.json) process.stdout.write(`${JSON.stringify(summaryJson(p, result, elapsedMs, 'empty', undefined))}\n`);
    return 2;
  }
  if (outcome.kind === 'interrupted') {
    stderr.write(`rescan interrupted; to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
    code = 130;
  } else if (outcome.kind === 'failed') {
    code = fail(`rescan of ${p.where} stopped`, outcome.error);
    stderr.write(`to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
  } else if (outcome.kind === 'rejected') {
    for (const failure of outcome.failures.slice(0, 10)) {
      stderr.write(`bucketscan: rescan: SQS refused the event for ${quoteValue(failure.key, 300)}: ${failure.code}: ${failure.message}\n`);
    }
    stderr.write(`to resume:\n  ${resumeCommand(p, result.resumeAfter)}\n`);
    code = 1;
  }
  if (p.args.json) {
    process.stdout.write(`${JSON.stringify(summaryJson(p, result, elapsedMs, status, estimate))}\n`);
  } else {
    const verb = p.args.dryRun ? 'would queue' : 'queued';
    const details = [`${formatCount(stats.listed)} listed`, `${formatCount(stats.skippedTotal)} skipped`];
    if (p.args.since) details.push(`${formatCount(stats.older)} modified before ${p.args.since.toISOString()}`);
    process.stdout.write(
      `${status === 'done' ? '' : `${status}: `}${verb} ${formatCount(stats.queued)} event${stats.queued === 1 ? '' : 's'} for ${p.where} (${details.join(', ')}) in ${formatDuration(elapsedMs)} on ${p.target.name}\n`,
    );
    if (estimate) process.stdout.write(`${estimateLines(estimate).join('\n')}\n`);
  }
  return code;
}
