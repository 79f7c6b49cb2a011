/**
 * What a quarantine area holds, read from the bucket itself: each quarantined
 * file's report (`<key>.report.json`, read with the report's schema) and the
 * release records beside it (`<key>.release-<id>.json`). A listing sorts a
 * file's release records before its report ("release" < "report"), so one pass
 * in key order sees both.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { getJson } from '../aws/objects.ts';
import { listCurrentObjects } from '../aws/listing.ts';
import { parseReleaseRecord, parseReleaseRecordKey, type ReleaseRecord } from '../pipeline/release.ts';
import { parseStoredReport, type QuarantineReport } from '../pipeline/report.ts';
import { errorMessage } from '../shared/errors.ts';

export const REPORT_SUFFIX = '.report.json';

export interface QuarantineArea {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
}

export interface QuarantinedFile {
  bucket: string;
  /** The quarantined object's key (the report names the original). */
  key: string;
  reportKey: string;
  report: QuarantineReport;
  /** Its release records, oldest first. */
  releases: ReleaseRecord[];
}

export type ListedEntry = { kind: 'file'; file: QuarantinedFile } | { kind: 'unreadable'; location: string; problem: string };

export interface ListOptions {
  /** Only reports written at or after this time (their LastModified, then their scannedAt). */
  since?: Date;
  signal?: AbortSignal;
  /** Reports read at once. */
  concurrency?: number;
}

async function readReport(s3: S3Client, bucket: string, key: string): Promise<QuarantineReport | string> {
  let document: unknown;
  try {
    document = await getJson(s3, bucket, key);
  } catch (error) {
    if (error instanceof SyntaxError) return 'not JSON';
    throw error;
  }
  return parseStoredReport(document) ?? 'not a bucketscan quarantine report';
}

/** A release record, or why it cannot be read. */
export async function readReleaseRecord(s3: S3Client, bucket: string, key: string): Promise<ReleaseRecord | string> {
  try {
    return parseReleaseRecord(await getJson(s3, bucket, key)) ?? 'not a bucketscan release record';
  } catch (error) {
    if (error instanceof SyntaxError) return 'not JSON';
    throw error;
  }
}

/** Every quarantined file of an area, in key order; unreadable reports and records are named, not fatal. */
export async function* listQuarantine(s3: S3Client, area: QuarantineArea, options: ListOptions = {}): AsyncGenerator<ListedEntry> {
  const releaseKeys = new Map<string, string[]>();
  const concurrency = options.concurrency ?? 8;
  for await (const page of listCurrentObjects(s3, {
    bucket: area.bucket,
    prefix: area.prefix,
    versioned: false,
    ...(options.signal ? { signal: options.signal } : {}),
  })) {
    const reports: Array<{ key: string }> = [];
    for (const object of page.objects) {
      const release = parseReleaseRecordKey(object.key);
      if (release) {
        const known = releaseKeys.get(release.quarantineKey) ?? [];
        known.push(object.key);
        releaseKeys.set(release.quarantineKey, known);
      } else if (object.key.endsWith(REPORT_SUFFIX) && (!options.since || object.lastModified >= options.since)) {
        reports.push({ key: object.key });
      }
    }
    // Reports of one page read a few at a time, yielded in key order.
    for (let start = 0; start < reports.length; start += concurrency) {
      const batch = reports.slice(start, start + concurrency);
      const entries = await Promise.all(
        batch.map(async ({ key }): Promise<ListedEntry | undefined> => {
          const location = `s3://${area.bucket}/${key}`;
          try {
            const report = await readReport(s3, area.bucket, key);
            if (typeof report === 'string') return { kind: 'unreadable', location, problem: report };
            if (options.since && Date.parse(report.scannedAt) < options.since.getTime()) return undefined;
            const quarantineKey = key.slice(0, -REPORT_SUFFIX.length);
            const releases: ReleaseRecord[] = [];
            for (const recordKey of releaseKeys.get(quarantineKey) ?? []) {
              const record = await readReleaseRecord(s3, area.bucket, recordKey);
              if (typeof record !== 'string') releases.push(record);
            }
            releaseKeys.delete(quarantineKey);
            releases.sort((a, b) => a.releasedAt.localeCompare(b.releasedAt));
            return { kind: 'file', file: { bucket: area.bucket, key: report.quarantine.key, reportKey: key, report, releases } };
          } catch (error) {
            return { kind: 'unreadable', location, problem: errorMessage(error).split('\n')[0] ?? 'read failed' };
          }
        }),
      );
      for (const entry of entries) if (entry) yield entry;
    }
  }
}
