import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ScanTarget } from '../events/record.ts';
import type { EngineInfo } from '../scan/reply.ts';
import { copyObject, deleteVersion, openObject, putJson, type ObjectVersion } from '../aws/objects.ts';
import { sendMessage } from '../aws/queue.ts';
import { publish } from '../aws/topic.ts';
import { buildForwardMessage, buildNotification, buildReport } from './report.ts';
import { decideAfterScan, decideBeforeScan, quarantineKeys, type QuarantineStatus, type ScanResult } from './decide.ts';

export interface Scanner {
  /** Resolves only with a verdict; any failure to scan rejects (and is never clean). */
  scan(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ScanResult>;
}

export interface PipelineSettings {
  quarantineBucket: string;
  quarantinePrefix: string;
  maxFileSizeBytes: number;
  validationQueueUrl: string;
  topicArn: string;
}

export interface PipelineDeps {
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  scanner: Scanner;
  /** clamd's VERSION, cached by the caller; null when it could not be read. */
  engine(): Promise<EngineInfo | null>;
  settings: PipelineSettings;
  now(): Date;
}

export type RecordOutcome =
  | { outcome: 'forwarded' }
  | { outcome: 'quarantined'; status: QuarantineStatus; signature: string | null; quarantineKey: string }
  | { outcome: 'dropped'; reason: string };

/**
 * Carries one valid record to its final outcome. Anything that throws leaves the
 * outcome undecided: the caller keeps the message for a retry.
 */
export async function processRecord(target: ScanTarget, deps: PipelineDeps, signal?: AbortSignal): Promise<RecordOutcome> {
  const { settings } = deps;
  const opened = await openObject(deps.s3, target, signal);
  const before = decideBeforeScan(target, opened, settings.maxFileSizeBytes);
  const body: Readable | undefined = opened.kind === 'found' ? opened.body : undefined;

  if (before.action !== 'scan') {
    // An unread body pins a pooled socket; let it go before doing anything else.
    body?.destroy();
    if (before.action === 'drop') return { outcome: 'dropped', reason: before.reason };
  }
  if (opened.kind !== 'found' || !body) throw new Error('unreachable: object not open');

  const scanned: ObjectVersion = {
    bucket: target.bucket,
    key: target.key,
    versionId: opened.versionId ?? target.versionId,
    eTag: opened.eTag ?? target.eTag,
  };

  let status: QuarantineStatus;
  let signature: string | null = null;
  if (before.action === 'quarantine') {
    status = before.status;
  } else {
    const verdict = await deps.scanner.scan(body, signal);
    const after = decideAfterScan(verdict);
    if (after.action === 'forward') {
      await sendMessage(deps.sqs, settings.validationQueueUrl, buildForwardMessage(target, deps.now(), await deps.engine()));
      return { outcome: 'forwarded' };
    }
    status = after.status;
    signature = after.signature;
  }

  const keys = quarantineKeys(settings.quarantinePrefix, target.key);
  const report = buildReport({
    target,
    status,
    signature,
    object: { size: opened.size, eTag: scanned.eTag, versionId: scanned.versionId },
    quarantine: { bucket: settings.quarantineBucket, key: keys.object, reportKey: keys.report },
    scannedAt: deps.now(),
    engine: await deps.engine(),
  });
  // Order matters: the file is deleted only once its copy, report and notification exist.
  await copyObject(deps.s3, scanned, { bucket: settings.quarantineBucket, key: keys.object });
  await putJson(deps.s3, settings.quarantineBucket, keys.report, report);
  await publish(deps.sns, settings.topicArn, buildNotification(report));
  await deleteVersion(deps.s3, scanned);
  return { outcome: 'quarantined', status, signature, quarantineKey: keys.object };
}
