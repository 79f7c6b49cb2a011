/**
 * What the pipeline needs from the world, as small interfaces of functions: the
 * worker's composition root (src/worker/compose.ts) binds them to S3, SNS, SQS
 * and clamd, and a test passes plain objects. The pipeline never holds an SDK
 * client.
 */
import type { Tag } from '@aws-sdk/client-s3';
import type { CopyOptions, ObjectVersion, OpenedObject } from '../aws/objects.ts';
import type { OutgoingMessage } from '../aws/queue.ts';
import type { Notification } from '../aws/topic.ts';
import type { EngineInfo, ScanVerdict } from '../scan/reply.ts';
import type { UnscannableAction } from './decide.ts';

/** The S3 calls of a record's life, on the exact versions it names (src/aws/objects.ts). */
export interface ObjectStore {
  /** Opens a version for streaming; resolves `gone`/`precondition-failed` rather than throwing for those. */
  open(version: ObjectVersion, signal?: AbortSignal): Promise<OpenedObject>;
  getTags(version: ObjectVersion, signal?: AbortSignal): Promise<Tag[]>;
  /** Replaces the whole tag set of the version. */
  putTags(version: ObjectVersion, tags: Tag[]): Promise<void>;
  /** Server-side copy of a version. */
  copy(source: ObjectVersion, destination: { bucket: string; key: string }, options: CopyOptions): Promise<void>;
  putJson(bucket: string, key: string, document: unknown, metadata?: Record<string, string>): Promise<void>;
  getJson(bucket: string, key: string): Promise<unknown>;
  /** An object's user metadata; undefined when there is no such object. */
  headMetadata(bucket: string, key: string): Promise<Record<string, string> | undefined>;
  replaceMetadata(bucket: string, key: string, metadata: Record<string, string>, contentType: string): Promise<void>;
  deleteVersion(version: ObjectVersion): Promise<void>;
}

/** Announces a quarantine (the SNS topic); resolves the message id. */
export interface Notifier {
  publish(notification: Notification): Promise<string | undefined>;
}

/** Sends a file's event on to the next stage (the validation queue, batched by whoever binds it). */
export interface Forwarder {
  forward(message: OutgoingMessage): Promise<void>;
}

export interface Scanner {
  /** Resolves only with a verdict; any failure to scan rejects (and is never clean). */
  scan(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ScanVerdict>;
}

export interface PipelineDeps {
  objects: ObjectStore;
  notifier: Notifier;
  forwarder: Forwarder;
  scanner: Scanner;
  /** clamd's VERSION, cached by the caller; null when it could not be read. */
  engine(): Promise<EngineInfo | null>;
  now(): Date;
}

/**
 * Where one bucket's uploads are accepted and where its bad files go. Today the
 * worker has one (UNPROCESSED_*, QUARANTINE_*, SCAN_STATUS_TAG); the record
 * checks (src/events/record.ts) read its bucket and prefix.
 */
export interface SourceSettings {
  bucket: string;
  /** Only keys under it are accepted ("" for the whole bucket). */
  prefix: string;
  quarantine: { bucket: string; prefix: string };
  /** The status tag's key; undefined turns tagging off. */
  statusTag: string | undefined;
}

export interface PipelineSettings {
  source: SourceSettings;
  /** MAX_FILE_SIZE in bytes: larger files are never scanned (TOO_LARGE). */
  maxFileSizeBytes: number;
  /** UNSCANNABLE_ACTION. */
  unscannableAction: UnscannableAction;
  /** Objects above this are quarantined with a multipart copy (S3 copies at most 5 GiB at once). */
  multipartCopyThresholdBytes: number;
}
