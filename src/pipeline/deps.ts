/**
 * What the pipeline needs from the world, as small interfaces of functions: the
 * worker's composition root (src/worker/compose.ts) binds them to S3, SNS, SQS
 * and clamd, and a test passes plain objects. The pipeline never holds an SDK
 * client.
 */
import type { Tag } from '@aws-sdk/client-s3';
import type { CopyOptions, ObjectVersion, OpenedObject } from '../aws/objects.ts';
import type { OutgoingMessage, QueueRef } from '../aws/queue.ts';
import type { Notification } from '../aws/topic.ts';
import type { ResultEvent } from '../aws/result-bus.ts';
import type { KeyLayout } from '../events/key.ts';
import type { EngineInfo, ScanVerdict } from '../scan/reply.ts';
import type { StatusTagStyle } from '../verdict/verdict.ts';
import type { FileRules, UnscannableAction } from './decide.ts';

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
  /** `topicArn`: the source's own topic; undefined: the global one (VIRUS_NOTIFICATION_TOPIC_ARN). */
  publish(notification: Notification, topicArn?: string): Promise<string | undefined>;
}

/** Sends a file's event on to the next stage (a validation queue, batched by whoever binds it). */
export interface Forwarder {
  /** `queue`: the source's validation queue, as its settings name it (resolved at start). */
  forward(message: OutgoingMessage, queue: QueueRef): Promise<void>;
}

/** Publishes one result event per verdict (RESULT_EVENT_BUS); resolves once EventBridge has it. */
export interface ResultPublisher {
  publish(event: ResultEvent): Promise<void>;
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
  /** Absent: no RESULT_EVENT_BUS, no result events. */
  results?: ResultPublisher;
  /** clamd's VERSION, cached by the caller; null when it could not be read. */
  engine(): Promise<EngineInfo | null>;
  now(): Date;
}

/**
 * A source: one bucket (or one folder of it) the worker scans, and where its
 * results go. One type from the settings (a sources file, docs/sources.md, or
 * the single-bucket variables, src/config/) to every record: the record checks
 * (src/events/record.ts) read its bucket, prefix and key layout, the pipeline
 * the rest.
 */
export interface Source {
  /** How messages name it: `sources[2] (bucket "uploads")`, or the variables that describe it. */
  label: string;
  bucket: string;
  /** Only keys under it are accepted ("" for the whole bucket, or ending in "/"). */
  prefix: string;
  keyLayout: KeyLayout;
  /** Where its bad files go ("" or a folder ending in "/"). */
  quarantine: { bucket: string; prefix: string };
  /** Where clean files' events go; undefined: clean files are only tagged and announced (result events). */
  validationQueue: QueueRef | undefined;
  /** Its own topic for quarantine reports; undefined: the global one (VIRUS_NOTIFICATION_TOPIC_ARN). */
  notificationTopicArn: string | undefined;
  /** The status tag's key; undefined turns tagging off for this source. */
  statusTag: string | undefined;
  /** Its own file rules (the sources file's maxFileSize, allowTypes, denyTypes, unscannableAction); absent: the global ones. */
  rules?: FileRules;
}

export interface PipelineSettings {
  /** Every source; a record belongs to the one its bucket and key fall in. */
  sources: readonly Source[];
  /** The words of the status tag (STATUS_TAG_STYLE). Default `bucketscan`. */
  statusTagStyle?: StatusTagStyle;
  /** MAX_FILE_SIZE in bytes: larger files are never scanned (TOO_LARGE). */
  maxFileSizeBytes: number;
  /** UNSCANNABLE_ACTION. */
  unscannableAction: UnscannableAction;
  /** Objects above this are quarantined with a multipart copy (S3 copies at most 5 GiB at once). */
  multipartCopyThresholdBytes: number;
}
