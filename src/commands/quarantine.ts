/**
 * `bucketscan quarantine list`: what the quarantine holds, read from the reports
 * and release records themselves.
 */
import { createS3Client } from '../aws/clients.ts';
import { commandSettings } from '../config/config.ts';
import { readEnvironment } from '../config/env-file.ts';
import { releaseRecordKey } from '../pipeline/release.ts';
import { listQuarantine, type QuarantinedFile } from '../quarantine/listing.ts';
import { shutdownSignal } from '../shared/shutdown.ts';
import { describeAwsFailure } from './aws-failure.ts';
import { Stop, stopped, UsageError } from './common.ts';
import { parseCommandLine, parseCount } from './parse-args.ts';
import { printable } from './scan-report.ts';

export const summary = 'List what is in quarantine: key, status, signature, when, source bucket, released or not.';
export const synopsis = 'quarantine list [--since <when>] [--json] [--max <n>]';
export const help = `Lists the files in the quarantine area (QUARANTINE_BUCKET_NAME, QUARANTINE_PREFIX),
one line per file, read from each file's report (<key>.report.json) and the
release records beside it (<key>.release-<id>.json, written by bucketscan release):

  SCANNED               STATUS       RELEASED  SIGNATURE                        ORIGINAL -> QUARANTINED
  2026-06-01T10:15:01Z  INFECTED     no        Win.Test.EICAR_HDB-1 [clamav]    s3://uploads/0b6f…/eicar.com -> s3://quarantine/0b6f…/eicar.com
  2026-06-01T11:02:40Z  INFECTED     yes       Custom.Acme.Invoice-1 [custom]   s3://uploads/7c1d…/invoice.pdf -> s3://quarantine/7c1d…/invoice.pdf

SCANNED is when clamd judged it; SIGNATURE is followed by where it comes from
(clamav, custom, third-party; docs/detection.md), "-" when there is none
(TOO_LARGE); RELEASED is yes once bucketscan release put the file back, started
when a release began but did not finish. Files are listed in key order, as they
are read; control characters in keys are escaped (\\x0a).

Options:
  --since <when>  only files quarantined since then: an ISO 8601 date or time
                  (2026-06-01, 2026-06-01T10:00:00Z) or an age (90m, 24h, 7d)
  --json          one JSON object per line: quarantine {bucket, key, reportKey},
                  original {bucket, key, versionId}, status, signature,
                  signatureOrigin, reason, detail, scannedAt, size, origin, and
                  released (null, or {state, at, by, reason, record} of the
                  latest release)
  --max <n>       stop after n files

Exit status: 0 listed (an empty quarantine included); 1 a report or the listing
could not be read (the others are still listed; each problem is a line on
stderr); 2 bad arguments or settings, or no such bucket.

IAM: s3:ListBucket on the quarantine bucket, s3:GetObject on its objects.`;

const OPTIONS = { since: { type: 'string' }, json: { type: 'boolean' }, max: { type: 'string' } } as const;

/** "7d", "24h", "90m" before now, or an ISO 8601 date or time. */
export function parseSince(text: string, now: Date): Date | undefined {
  const age = /^(\d{1,6})([mhd])$/.exec(text.trim());
  if (age) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(age[1]) * unit);
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return undefined;
  const parsed = new Date(text.trim());
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') {
    throw new UsageError(
      sub === undefined
        ? 'quarantine: say list (bucketscan quarantine --help)'
        : `quarantine: unknown subcommand ${JSON.stringify(sub)} (list)`,
    );
  }
  const { values } = parseCommandLine('quarantine list', rest, OPTIONS);
  const since = values.since === undefined ? undefined : parseSince(values.since, new Date());
  if (values.since !== undefined && !since) {
    throw new UsageError(
      `quarantine list: --since must be an ISO 8601 date or time, or an age such as 24h or 7d, got ${JSON.stringify(values.since)}`,
    );
  }
  const max = values.max === undefined ? Number.POSITIVE_INFINITY : parseCount('quarantine list', '--max', values.max, 1, 10_000_000);
  const settings = commandSettings(readEnvironment());
  // With SOURCES_FILE or SOURCES: every source's quarantine area, each listed once.
  const configured = (await settings.sources())?.sources;
  const areas = configured ? outermost(configured.map((source) => source.quarantine)) : [settings.quarantine()];
  const s3 = createS3Client(settings.aws('s3'));
  const signal = shutdownSignal();
  let problems = 0;
  let listed = 0;
  let area = areas[0]!;
  try {
    if (!values.json) process.stdout.write(`${columns(['SCANNED', 'STATUS', 'RELEASED', 'SIGNATURE', 'ORIGINAL -> QUARANTINED'])}\n`);
    for (area of areas) {
      if (listed >= max) break;
      for await (const entry of listQuarantine(s3, area, { ...(since ? { since } : {}), signal })) {
        if (entry.kind === 'unreadable') {
          problems++;
          process.stderr.write(`bucketscan: quarantine list: ${printable(entry.location)}: ${entry.problem}\n`);
          continue;
        }
        process.stdout.write(`${values.json ? JSON.stringify(jsonOf(entry.file)) : textOf(entry.file)}\n`);
        if (++listed >= max) break;
      }
    }
  } catch (error) {
    if (signal.aborted) return stopped('quarantine list', new Stop('interrupted', 130));
    const failure = describeAwsFailure(`list s3://${area.bucket}/${area.prefix}`, error);
    const missing = failure.line.includes('NoSuchBucket');
    return stopped('quarantine list', new Stop(failure.line, missing ? 2 : failure.exitCode));
  } finally {
    s3.destroy();
  }
  if (listed === 0 && problems === 0)
    process.stderr.write(
      `bucketscan: quarantine list: nothing in ${areas.map((each) => `s3://${each.bucket}/${each.prefix}`).join(', ')}${since ? ` since ${since.toISOString()}` : ''}\n`,
    );
  return problems > 0 ? 1 : 0;
}

/** The areas not inside another of the same bucket (a folder's listing covers its subfolders). */
function outermost(areas: ReadonlyArray<{ bucket: string; prefix: string }>): Array<{ bucket: string; prefix: string }> {
  return areas.filter(
    (area, index) =>
      !areas.some(
        (other, j) => other.bucket === area.bucket && area.prefix.startsWith(other.prefix) && (other.prefix !== area.prefix || j < index),
      ),
  );
}

const WIDTHS = [20, 15, 8, 40];

function columns(cells: string[]): string {
  return cells.map((cell, index) => (index < WIDTHS.length ? cell.padEnd(WIDTHS[index]!) : cell)).join('  ');
}

function latestRelease(file: QuarantinedFile) {
  return file.releases.at(-1);
}

function textOf(file: QuarantinedFile): string {
  const { report } = file;
  const release = latestRelease(file);
  const released = release ? (release.state === 'done' ? 'yes' : 'started') : 'no';
  const signature = report.signature ? `${printable(report.signature)} [${report.signatureOrigin}]` : '-';
  return columns([
    report.scannedAt.replace(/\.\d{3}Z$/, 'Z'),
    report.status,
    released,
    signature,
    `${printable(`s3://${report.bucket}/${report.key}`)} -> ${printable(`s3://${file.bucket}/${file.key}`)}`,
  ]);
}

function jsonOf(file: QuarantinedFile): Record<string, unknown> {
  const { report } = file;
  const release = latestRelease(file);
  return {
    quarantine: { bucket: file.bucket, key: file.key, reportKey: file.reportKey },
    original: { bucket: report.bucket, key: report.key, versionId: report.versionId },
    status: report.status,
    signature: report.signature,
    signatureOrigin: report.signatureOrigin,
    reason: report.reason,
    detail: report.detail ?? null,
    scannedAt: report.scannedAt,
    size: report.size,
    origin: report.origin ?? 'event',
    released: release
      ? {
          state: release.state,
          at: release.releasedAt,
          by: release.releasedBy.arn,
          reason: release.reason,
          record: `s3://${file.bucket}/${releaseRecordKey(release.quarantine.key, release.id)}`,
        }
      : null,
  };
}
