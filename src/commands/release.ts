/**
 * `bucketscan release`: a false positive back to its owner, with an audit record
 * (src/quarantine/release.ts does the work).
 */
import { createS3Client, createSqsClient } from '../aws/clients.ts';
import { callerIdentity } from '../aws/identity.ts';
import { resolveQueueUrl } from '../aws/queue.ts';
import { parseS3Url } from '../aws/s3-url.ts';
import { commandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import { findSource } from '../config/sources.ts';
import { needsForce, planRelease, release, ReleaseRefused } from '../quarantine/release.ts';
import { Stop, stopped, UsageError } from './common.ts';
import { parseCommandLine } from './parse-args.ts';
import { printable } from './scan-report.ts';
import { cleanTagValue, RELEASED_TAG } from '../verdict/verdict.ts';

export const summary = 'Release a file from quarantine (a false positive): restore it, tag it CLEAN, forward it, with an audit record.';
export const synopsis = 'release s3://<quarantine bucket>/<key> --reason <why> [--force] [--dry-run]';
export const help = `Puts a quarantined file back where it was uploaded, for a file clamd flagged that
is known to be safe. This is the one way a file bucketscan did not find clean is
tagged CLEAN, so every release is recorded:

  1. the report beside the file (<key>.report.json) says where it came from and
     what clamd said; the file must be in the quarantine area
     (QUARANTINE_BUCKET_NAME, QUARANTINE_PREFIX), from a bucket this configuration
     scans (UNPROCESSED_BUCKET_NAME);
  2. an audit record is written beside the report before anything changes:
     <key>.release-<id>.json with who (the caller's ARN, from
     sts:GetCallerIdentity), when, why (--reason), and the status and signature
     it overrides;
  3. the file is copied back to its original bucket and key, as a new version,
     tagged in the same request with the status CLEAN (SCAN_STATUS_TAG; with
     STATUS_TAG_STYLE=guardduty, NO_THREATS_FOUND, as the worker would) and
     bucketscan-released=<id>; its other tags are kept;
  4. its event is forwarded to the validation queue (VALIDATION_QUEUE_NAME or
     _URL) as if it had been clean: an ObjectCreated:Copy record for the new
     version, with message attributes status=CLEAN and released=<audit record>;
  5. the audit record is completed (state done, the version written, the
     message id).
The quarantined copy and its report stay, for the record; bucketscan quarantine
list shows the file as released.

The worker scans the restored file again when its upload event arrives. The
release stands for that version as long as clamd finds nothing, or exactly what
the release overrode (same status and signature); anything else is a new
finding and quarantined as usual. To stop the signature flagging such files at
all, add it to the allow list (bucketscan allow).

Options:
  --reason <why>  required: the audit record's why (at most 1000 characters)
  --force         release even when the original key now holds a newer object
                  (restored over it, as a new version; the record names what it
                  replaced) or the file was released before
  --dry-run       check everything and say what would happen; change nothing

Exit status: 0 released (or, with --dry-run, would be); 1 refused (a newer
object, released before, no such quarantined file, no report, no permission)
or a step failed (the audit record then says how far it got: state started);
2 bad arguments or settings, or a path outside the quarantine area.

IAM: s3:ListBucket and s3:GetObject on the quarantine bucket, s3:PutObject there
(the audit record), s3:GetObjectTagging on the quarantined file; s3:ListBucket on
the original bucket (what the key holds now is listed, not read: the fail-closed
policy denies reading an unscanned file), s3:PutObject and s3:PutObjectTagging on
the original key; sqs:GetQueueUrl and sqs:SendMessage on the validation queue;
sts:GetCallerIdentity (no grant needed). Under the fail-closed bucket policy
(bucketscan policy) the caller must be named with --releaser, which exempts it
from the copy-in and status-tag statements (no read exemption); a quarantine
bucket that only the scanner may read must let it read too. The deployment's
DetectionPolicy and Releasers parameter do both (docs/deploy.md).

Examples:
  bucketscan release s3://quarantine/0b6f2c1e-4d2a-4c1b-9e7f-3a5d8c2b1f00/invoice.pdf \\
    --reason "INC-1234: customer invoice template, checked in a sandbox by J. Doe"
  bucketscan release s3://quarantine/…/invoice.pdf --reason "…" --dry-run`;

const OPTIONS = { reason: { type: 'string' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean' } } as const;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('release', argv, OPTIONS, 1);
  const [target] = positionals;
  if (target === undefined) throw new UsageError('release: name the quarantined file, s3://<quarantine bucket>/<key>');
  const parsed = parseS3Url(target, 'object');
  if (!parsed.ok) throw new UsageError(`release: ${parsed.reason}`);
  const reason = (values.reason ?? '').trim();
  if (reason === '') throw new UsageError('release: --reason is required: say why this file is safe (the audit record keeps it)');
  if (reason.length > 1000) throw new UsageError('release: --reason is longer than 1000 characters');

  const settings = commandSettings(readEnvironment());
  // With SOURCES_FILE or SOURCES: every source's quarantine area and bucket; else the single-bucket variables.
  const configured = (await settings.sources())?.sources;
  const areas = configured ? configured.map((source) => source.quarantine) : [settings.quarantine()];
  const sourceBuckets = configured ? [...new Set(configured.map((source) => source.bucket))] : [settings.unprocessed().bucket];
  const connection = settings.aws('s3');
  const s3 = createS3Client(connection);
  const sqs = createSqsClient(settings.aws('sqs'));
  try {
    const plan = await planRelease(s3, {
      bucket: parsed.value.bucket,
      key: parsed.value.key,
      reason,
      force: values.force === true,
      areas,
      sourceBuckets,
      statusTag: configured ? undefined : settings.statusTag(),
      statusTagStyle: settings.statusTagStyle(),
      region: connection.region,
    });
    // The file's own source decides its status tag and where its clean event goes.
    const source = configured ? findSource(configured, plan.report.bucket, plan.report.key) : undefined;
    if (source && !source.ok)
      throw new ReleaseRefused(`the report names s3://${plan.report.bucket}/${plan.report.key}: ${source.reason}`, 2);
    if (source?.ok) plan.request.statusTag = source.source.statusTag;
    const validationQueue = source?.ok ? source.source.validationQueue : settings.validationQueue();
    const statusTag = plan.request.statusTag;
    const { report } = plan;
    const original = printable(`s3://${report.bucket}/${report.key}`);
    const overridden = `${report.status}${report.signature ? ` (${printable(report.signature)})` : ''}`;
    const blocker = needsForce(plan);
    if (values['dry-run']) {
      const lines = [
        `would release ${printable(target)}: ${overridden}, scanned ${report.scannedAt}`,
        `  restore to ${original} as a new version, tagged ${statusTag ? `${statusTag}=${cleanTagValue(plan.request.statusTagStyle)} and ` : ''}${RELEASED_TAG}`,
        `  ${validationQueue ? 'forward its event to the validation queue, and ' : ''}write the audit record beside the report`,
      ];
      if (blocker) lines.push(`  ${values.force ? 'forced over: ' : 'REFUSED without --force: '}${blocker}`);
      process.stdout.write(`${lines.join('\n')}\ndry run: nothing was changed\n`);
      return blocker && !values.force ? 1 : 0;
    }
    const done = await release(plan, {
      s3,
      sqs,
      identity: () => callerIdentity(connection),
      queueUrl: async () => (validationQueue ? resolveQueueUrl(sqs, validationQueue) : undefined),
      now: () => new Date(),
    });
    const { record } = done;
    const lines = [
      `released ${printable(target)} (${overridden})`,
      `  restored to ${original}, version ${record.restored.versionId ?? '(unversioned bucket)'}`,
      record.forwarded
        ? `  forwarded to ${record.forwarded.queueUrl} (message ${record.forwarded.messageId ?? 'unknown'})`
        : '  not forwarded: its source has no validation queue',
      `  audit record s3://${parsed.value.bucket}/${printable(done.recordKey)} (by ${record.releasedBy.arn})`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ReleaseRefused) return stopped('release', new Stop(error.message, error.exitCode));
    throw error;
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}
