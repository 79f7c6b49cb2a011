import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { ScanTarget } from '../events/record.ts';
import type { EngineInfo } from '../scan/reply.ts';
import { openObject, type ObjectVersion } from '../aws/objects.ts';
import type { OutgoingMessage } from '../aws/queue.ts';
import { finishInterruptedNotification, quarantine, type QuarantineDeps, type Resumed } from './quarantine.ts';
import { buildForwardMessage, buildNotification, buildReport, type QuarantineReport } from './report.ts';
import {
  decideAfterScan,
  decideBeforeScan,
  quarantineKeys,
  type QuarantineStatus,
  type ScanResult,
  type UnscannableAction,
} from './decide.ts';

export interface Scanner {
  /** Resolves only with a verdict; any failure to scan rejects (and is never clean). */
  scan(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ScanResult>;
}

export interface PipelineSettings {
  quarantineBucket: string;
  quarantinePrefix: string;
  maxFileSizeBytes: number;
  topicArn: string;
  multipartCopyThresholdBytes: number;
  /** UNSCANNABLE_ACTION. Default 'quarantine'. */
  unscannableAction?: UnscannableAction;
}

export interface PipelineDeps {
  s3: S3Client;
  sns: SNSClient;
  scanner: Scanner;
  /** Sends to the validation queue (batched by the caller). */
  forward(message: OutgoingMessage): Promise<void>;
  /** clamd's VERSION, cached by the caller; null when it could not be read. */
  engine(): Promise<EngineInfo | null>;
  settings: PipelineSettings;
  now(): Date;
}

function quarantineDeps(deps: PipelineDeps): QuarantineDeps {
  return {
    s3: deps.s3,
    sns: deps.sns,
    topicArn: deps.settings.topicArn,
    multipartCopyThresholdBytes: deps.settings.multipartCopyThresholdBytes,
  };
}

export type RecordOutcome =
  /** `unscannable` is set when the file went on marked UNSCANNABLE (UNSCANNABLE_ACTION=forward). */
  | { outcome: 'forwarded'; unscannable?: { detail: string; signature: string | null } }
  /** `detail` is set for UNSCANNABLE: what clamd could not scan. */
  | { outcome: 'quarantined'; status: QuarantineStatus; signature: string | null; quarantineKey: string; resumed: Resumed; detail?: string }
  | { outcome: 'dropped'; reason: string };

/**
 * Carries one valid record to its final outcome. Anything that throws leaves the
 * outcome undecided: the caller keeps the message for a retry.
 */
export async function processRecord(
  target: ScanTarget,
  deps: PipelineDeps,
  signal?: AbortSignal,
  /** Called once no more clamd time is needed: only network steps are left. */
  onScanned?: () => void,
): Promise<RecordOutcome> {
  const { settings } = deps;
  const opened = await openObject(deps.s3, target, signal);
  const before = decideBeforeScan(target, opened, settings.maxFileSizeBytes);
  const body: Readable | undefined = opened.kind === 'found' ? opened.body : undefined;

  if (before.action !== 'scan') {
    onScanned?.();
    // An unread body pins a pooled socket; let it go before doing anything else.
    body?.destroy();
    if (before.action === 'drop') {
      // A quarantine that died between its report and its notification may have
      // been for this very version; make sure it was announced.
      const keys = quarantineKeys(settings.quarantinePrefix, target.key);
      await finishInterruptedNotification(
        quarantineDeps(deps),
        { bucket: settings.quarantineBucket, reportKey: keys.report },
        { bucket: target.bucket, key: target.key, versionId: target.versionId, eTag: target.eTag },
        (stored) => buildNotification(stored as QuarantineReport),
      );
      return { outcome: 'dropped', reason: before.reason };
    }
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
  let detail: string | undefined;
  if (before.action === 'quarantine') {
    status = before.status;
  } else {
    const verdict = await deps.scanner.scan(body, signal);
    onScanned?.();
    const after = decideAfterScan(verdict, settings.unscannableAction ?? 'quarantine');
    if (after.action === 'forward') {
      const unscannable = after.status === 'UNSCANNABLE' ? { detail: after.detail, signature: after.signature } : undefined;
      await deps.forward(buildForwardMessage(target, deps.now(), await deps.engine(), unscannable));
      return unscannable ? { outcome: 'forwarded', unscannable } : { outcome: 'forwarded' };
    }
    status = after.status;
    signature = after.signature;
    if (after.status === 'UNSCANNABLE') detail = after.detail;
  }

  const keys = quarantineKeys(settings.quarantinePrefix, target.key);
  const report = buildReport({
    target,
    status,
    signature,
    ...(detail === undefined ? {} : { detail }),
    object: { size: opened.size, eTag: scanned.eTag, versionId: scanned.versionId },
    quarantine: { bucket: settings.quarantineBucket, key: keys.object, reportKey: keys.report },
    scannedAt: deps.now(),
    engine: await deps.engine(),
  });
  // Order matters: the file is deleted only once its copy, report and notification
  // exist; a redelivery after a crash picks up where this attempt stopped.
  const resumed = await quarantine(quarantineDeps(deps), {
    source: scanned,
    size: opened.size,
    attributes: opened.attributes,
    bucket: settings.quarantineBucket,
    objectKey: keys.object,
    reportKey: keys.report,
    report,
    toNotification: (stored) => buildNotification(stored as QuarantineReport),
  });
  return { outcome: 'quarantined', status, signature, quarantineKey: keys.object, resumed, ...(detail === undefined ? {} : { detail }) };
}
