/**
 * `bucketscan release`: a quarantined file back where it came from, the audited
 * exception to "never tag CLEAN what clamd did not call clean".
 *
 * Order, so that nothing is done without a record of it:
 * 1. read the report (with its schema) and what the original key holds now; refuse
 *    a key that holds a newer object, or a file released before, unless forced;
 * 2. find out who is asking (STS), then write the audit record beside the report,
 *    state "started", before anything changes;
 * 3. copy the file back to its bucket and key, a new version, its tags replaced in
 *    the same request: CLEAN and `bucketscan-released=<id>` (so no moment exists
 *    when the restored file is readable without its record, or tagged without it);
 * 4. forward its event to the validation queue as if it had been clean;
 * 5. complete the record ("done", the version written, the message id).
 * A failure after 2 leaves the record "started": it says what was attempted and
 * by whom; run the command again (with --force once the file is back).
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { awsErrorInfo, isNotFound } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import { copyObject, getJson, getTags, putJson, type ObjectAttributes } from '../aws/objects.ts';
import { listCurrentObjects } from '../aws/listing.ts';
import { buildEventDocument, buildObjectCreatedRecord, createSequencer } from '../events/s3-event.ts';
import { unquoteETag } from '../events/text.ts';
import { newReleaseId, releaseRecordKey, releaseRecordPrefix, type ReleaseRecord } from '../pipeline/release.ts';
import { parseStoredReport, type QuarantineReport } from '../pipeline/report.ts';
import { MAX_TAGS, withStatus } from '../pipeline/tags.ts';
import { CLEAN_STATUS, cleanTagValue, RELEASED_TAG, type StatusTagStyle } from '../verdict/verdict.ts';
import { readReleaseRecord, REPORT_SUFFIX, type QuarantineArea } from './listing.ts';

/** Why a release did not happen, with the exit code the command ends with. */
export class ReleaseRefused extends Error {
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'ReleaseRefused';
    this.exitCode = exitCode;
  }
}

export interface ReleaseRequest {
  bucket: string;
  key: string;
  reason: string;
  force: boolean;
  /** The configured quarantine areas: the file must be in one. */
  areas: readonly QuarantineArea[];
  /** The buckets bucketscan scans: a report naming another is not restored. */
  sourceBuckets: readonly string[];
  /** SCAN_STATUS_TAG; undefined: tagging off (the released marker is still written). */
  statusTag: string | undefined;
  /** STATUS_TAG_STYLE: the restored file is tagged with that style's clean (CLEAN, or NO_THREATS_FOUND). Default bucketscan. */
  statusTagStyle?: StatusTagStyle;
  region: string;
}

/** What a release would do, found before anything changes. */
export interface ReleasePlan {
  request: ReleaseRequest;
  report: QuarantineReport;
  reportKey: string;
  quarantined: { size: number; versionId: string | undefined; eTag: string | undefined; attributes: ObjectAttributes };
  /** The current object at the original key, if any. */
  existing: { versionId: string | null; eTag: string | null; lastModified: string | null } | undefined;
  /** Earlier releases of this file, finished or not. */
  earlier: ReleaseRecord[];
}

const location = (bucket: string, key: string) => `s3://${bucket}/${key}`;

function inArea(request: ReleaseRequest): boolean {
  return request.areas.some((area) => area.bucket === request.bucket && request.key.startsWith(area.prefix));
}

/** An AWS failure in the words of the step that met it; access problems named as such. */
function awsRefusal(what: string, error: unknown): ReleaseRefused {
  const { status, code } = awsErrorInfo(error);
  // A HEAD request's error has no body, so the SDK knows no code: name the HTTP status instead.
  const named = code !== undefined && code !== 'Unknown' && !/^\d+$/.test(code) ? code : `HTTP ${status ?? '?'}`;
  if (status === 403 || code === 'AccessDenied')
    return new ReleaseRefused(`${what}: access denied (${named}): this identity lacks the permission`);
  if (code === 'NoSuchBucket') return new ReleaseRefused(`${what}: no such bucket`);
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
  return new ReleaseRefused(`${what}: ${code && code !== message ? `${code}: ` : ''}${message}`);
}

async function head(s3: S3Client, bucket: string, key: string) {
  try {
    return await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error) && awsErrorInfo(error).code !== 'NoSuchBucket') return undefined;
    throw error;
  }
}

/** Everything a release needs to know, read only; refuses what must not be released. */
export async function planRelease(s3: S3Client, request: ReleaseRequest): Promise<ReleasePlan> {
  const { bucket, key } = request;
  const here = location(bucket, key);
  if (!inArea(request)) {
    const areas = request.areas.map((area) => location(area.bucket, area.prefix)).join(', ');
    throw new ReleaseRefused(`${here} is not in a quarantine area (${areas}: QUARANTINE_BUCKET_NAME, QUARANTINE_PREFIX)`, 2);
  }
  if (key.endsWith(REPORT_SUFFIX)) {
    throw new ReleaseRefused(
      `${here} is a report: name the quarantined file itself (${location(bucket, key.slice(0, -REPORT_SUFFIX.length))})`,
      2,
    );
  }
  const reportKey = `${key}${REPORT_SUFFIX}`;
  let quarantinedHead: Awaited<ReturnType<typeof head>>;
  let document: unknown;
  try {
    quarantinedHead = await head(s3, bucket, key);
    if (!quarantinedHead) throw new ReleaseRefused(`${here}: no such quarantined file`);
    document = await getJson(s3, bucket, reportKey).catch((error: unknown) => {
      if (isNotFound(error)) throw new ReleaseRefused(`${here} has no report beside it (${reportKey}): not a file bucketscan quarantined`);
      if (error instanceof SyntaxError)
        throw new ReleaseRefused(`${location(bucket, reportKey)} is not JSON: not a report this version can read`);
      throw error;
    });
  } catch (error) {
    if (error instanceof ReleaseRefused) throw error;
    throw awsRefusal(`read ${here}`, error);
  }
  const report = parseStoredReport(document);
  if (!report) throw new ReleaseRefused(`${location(bucket, reportKey)} is not a bucketscan quarantine report this version can read`);
  if (report.quarantine.bucket !== bucket || report.quarantine.key !== key) {
    throw new ReleaseRefused(
      `${location(bucket, reportKey)} describes ${location(report.quarantine.bucket, report.quarantine.key)}, not ${here}`,
    );
  }
  if (!request.sourceBuckets.includes(report.bucket)) {
    throw new ReleaseRefused(
      `the report names bucket ${JSON.stringify(report.bucket)}, which this configuration does not scan (UNPROCESSED_BUCKET_NAME): ` +
        'release it with the settings of the deployment that quarantined it',
      2,
    );
  }
  if (report.versionId === null) {
    // The worker knows a released file only by the version the release wrote: in an
    // unversioned bucket it would scan the restored file as a new upload and
    // quarantine it again, after its event had gone to the validation queue.
    throw new ReleaseRefused(
      `${location(report.bucket, report.key)} was scanned in an unversioned bucket (its report has no version id): ` +
        'a release there would be quarantined again; turn versioning on, and release files scanned after that',
      2,
    );
  }

  let existing: ReleasePlan['existing'];
  let earlier: ReleaseRecord[];
  try {
    existing = await currentObject(s3, report.bucket, report.key);
    earlier = await earlierReleases(s3, bucket, key);
  } catch (error) {
    throw awsRefusal(`read ${location(report.bucket, report.key)}`, error);
  }
  return {
    request,
    report,
    reportKey,
    quarantined: {
      size: quarantinedHead.ContentLength ?? report.size,
      versionId: quarantinedHead.VersionId && quarantinedHead.VersionId !== 'null' ? quarantinedHead.VersionId : undefined,
      eTag: unquoteETag(quarantinedHead.ETag),
      attributes: {
        contentType: quarantinedHead.ContentType,
        metadata: quarantinedHead.Metadata,
        serverSideEncryption: quarantinedHead.ServerSideEncryption,
        kmsKeyId: quarantinedHead.SSEKMSKeyId,
        bucketKeyEnabled: quarantinedHead.BucketKeyEnabled,
      },
    },
    existing,
    earlier,
  };
}

/**
 * The object the original key holds now, from a listing rather than a HEAD: the
 * fail-closed bucket policy denies reading an object that is not CLEAN (a fresh
 * upload), but not listing the bucket.
 */
async function currentObject(s3: S3Client, bucket: string, key: string): Promise<ReleasePlan['existing']> {
  const response = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  // A key sorts before every longer key it is the start of: if it exists, it is the first listed.
  const found = response.Contents?.[0];
  if (!found || found.Key !== key) return undefined;
  return { versionId: null, eTag: unquoteETag(found.ETag) ?? null, lastModified: found.LastModified?.toISOString() ?? null };
}

async function earlierReleases(s3: S3Client, bucket: string, key: string): Promise<ReleaseRecord[]> {
  const records: ReleaseRecord[] = [];
  const prefix = releaseRecordPrefix(key);
  for await (const page of listCurrentObjects(s3, { bucket, prefix, versioned: false })) {
    for (const object of page.objects) {
      const record = await readReleaseRecord(s3, bucket, object.key);
      if (typeof record !== 'string') records.push(record);
    }
  }
  return records.sort((a, b) => a.releasedAt.localeCompare(b.releasedAt));
}

/** Why this release needs --force, or undefined. */
export function needsForce(plan: ReleasePlan): string | undefined {
  const { report, existing, earlier } = plan;
  const original = location(report.bucket, report.key);
  const done = earlier.find((record) => record.state === 'done');
  if (done) return `this file was released already, at ${done.releasedAt} by ${done.releasedBy.arn}: --force releases it again`;
  if (existing) {
    return (
      `${original} now holds another object (ETag ${existing.eTag ?? 'unknown'}, last modified ${existing.lastModified ?? 'unknown'}), ` +
      'newer than the quarantined file: restoring would hide it. --force restores over it (as a new version)'
    );
  }
  return undefined;
}

export interface ReleaseDeps {
  s3: S3Client;
  sqs: SQSClient;
  identity(): Promise<CallerIdentity>;
  /** The validation queue's URL; undefined: the file's source has none (clean files are only tagged and announced). */
  queueUrl(): Promise<string | undefined>;
  now(): Date;
}

export interface Released {
  record: ReleaseRecord;
  recordKey: string;
}

/** Carries out a checked plan (steps 2 to 5 above). */
export async function release(plan: ReleasePlan, deps: ReleaseDeps): Promise<Released> {
  const { request, report } = plan;
  const { bucket, key } = request;
  const reason = needsForce(plan);
  if (reason && !request.force) throw new ReleaseRefused(reason);

  let identity: CallerIdentity;
  try {
    identity = await deps.identity();
  } catch (error) {
    throw awsRefusal('find out who is calling (sts:GetCallerIdentity)', error);
  }
  let queueUrl: string | undefined;
  try {
    queueUrl = await deps.queueUrl();
  } catch (error) {
    throw awsRefusal('look up the validation queue', error);
  }
  const releasedAt = deps.now();
  const id = newReleaseId(releasedAt);
  const recordKey = releaseRecordKey(key, id);
  const record: ReleaseRecord = {
    format: 'bucketscan-release',
    id,
    state: 'started',
    releasedAt: releasedAt.toISOString(),
    releasedBy: identity,
    reason: request.reason,
    force: request.force,
    quarantine: { bucket, key, reportKey: plan.reportKey },
    overridden: {
      status: report.status,
      signature: report.signature,
      signatureOrigin: report.signatureOrigin ?? null,
      scannedAt: report.scannedAt,
    },
    restored: { bucket: report.bucket, key: report.key },
    ...(plan.existing ? { replaced: plan.existing } : {}),
  };
  const writeRecord = async (what: string) => {
    try {
      await putJson(deps.s3, bucket, recordKey, record);
    } catch (error) {
      throw awsRefusal(`${what} ${location(bucket, recordKey)}`, error);
    }
  };
  await writeRecord('write the audit record');

  // The restored copy's tags: the quarantined copy's own, its status CLEAN, and the release.
  const source = { bucket, key, versionId: plan.quarantined.versionId, eTag: plan.quarantined.eTag };
  let tags: Awaited<ReturnType<typeof getTags>>;
  try {
    tags = (await getTags(deps.s3, source)).filter((tag) => tag.Key !== RELEASED_TAG);
  } catch (error) {
    throw awsRefusal(`read the tags of ${location(bucket, key)}`, error);
  }
  if (request.statusTag) {
    const merged = withStatus(tags, request.statusTag, cleanTagValue(request.statusTagStyle));
    if (!merged.ok) throw new ReleaseRefused(`cannot tag the restored file: ${merged.problem} (the audit record stays, state "started")`);
    tags = merged.tags;
  }
  if (tags.length >= MAX_TAGS) throw new ReleaseRefused(`cannot tag the restored file: it would have more than S3's ${MAX_TAGS} tags`);
  tags.push({ Key: RELEASED_TAG, Value: id });

  let written: Awaited<ReturnType<typeof copyObject>>;
  try {
    written = await copyObject(
      deps.s3,
      source,
      { bucket: report.bucket, key: report.key },
      { size: plan.quarantined.size, attributes: plan.quarantined.attributes, tags },
    );
  } catch (error) {
    throw awsRefusal(`copy the file back to ${location(report.bucket, report.key)}`, error);
  }
  record.restored = { bucket: report.bucket, key: report.key, versionId: written.versionId ?? null, eTag: written.eTag ?? null };

  const event = buildObjectCreatedRecord({
    bucket: report.bucket,
    key: report.key,
    size: plan.quarantined.size,
    eTag: written.eTag ?? plan.quarantined.eTag ?? '',
    ...(written.versionId ? { versionId: written.versionId } : {}),
    eventName: 'ObjectCreated:Copy',
    region: request.region,
    eventTime: releasedAt,
    sequencer: createSequencer(() => releasedAt.getTime())(),
    configurationId: 'bucketscan-release',
    principalId: `AWS:${identity.userId}`,
  });
  if (queueUrl !== undefined) {
    const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
    let messageId: string | undefined;
    try {
      const sent = await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(buildEventDocument([event])),
          MessageAttributes: {
            status: attribute(CLEAN_STATUS),
            scannedAt: attribute(report.scannedAt),
            released: attribute(location(bucket, recordKey)),
            releasedAt: attribute(record.releasedAt),
          },
        }),
      );
      messageId = sent.MessageId;
    } catch (error) {
      await writeRecord('record the restored version in').catch(() => undefined);
      throw awsRefusal('forward the event to the validation queue (the file is back; run again with --force to forward it)', error);
    }
    record.forwarded = { queueUrl, messageId: messageId ?? null };
  }
  record.state = 'done';
  await writeRecord('complete the audit record');
  return { record, recordKey };
}
