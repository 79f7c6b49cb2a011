/**
 * The pipeline's dependencies and settings for unit tests. Every part a test
 * does not give throws when it is used, so a test says exactly which of S3, SNS,
 * the validation queue and clamd it expects to be reached.
 */
import { Readable } from 'node:stream';
import type { ObjectVersion, OpenedObject } from '../../src/aws/objects.ts';
import type { Logger } from '../../src/log/logger.ts';
import type {
  Forwarder,
  Notifier,
  ObjectStore,
  PipelineDeps,
  PipelineSettings,
  ResultPublisher,
  Scanner,
  Source,
} from '../../src/pipeline/deps.ts';
import type { MessageContext } from '../../src/pipeline/process-message.ts';

/** What `objects.open` resolves for an object that exists and is empty: the version asked for, no tags. */
export function emptyObject(version: ObjectVersion): OpenedObject {
  return {
    kind: 'found',
    body: Readable.from([]),
    size: 0,
    eTag: undefined,
    versionId: version.versionId,
    attributes: {
      contentType: undefined,
      metadata: undefined,
      serverSideEncryption: undefined,
      kmsKeyId: undefined,
      bucketKeyEnabled: undefined,
    },
    tagCount: 0,
  };
}

const unexpected = (what: string) => async (): Promise<never> => {
  throw new Error(`${what} must not be reached here`);
};

export interface DepsParts {
  objects?: Partial<ObjectStore>;
  notifier?: Notifier;
  forwarder?: Forwarder;
  scanner?: Scanner;
  results?: ResultPublisher;
  engine?: PipelineDeps['engine'];
  now?: () => Date;
}

export function pipelineDeps(parts: DepsParts = {}): PipelineDeps {
  return {
    objects: {
      open: unexpected('S3 GetObject'),
      getTags: unexpected('S3 GetObjectTagging'),
      putTags: unexpected('S3 PutObjectTagging'),
      copy: unexpected('S3 CopyObject'),
      putJson: unexpected('S3 PutObject'),
      getJson: unexpected('S3 GetObject (report)'),
      headMetadata: unexpected('S3 HeadObject'),
      replaceMetadata: unexpected('S3 CopyObject (metadata)'),
      deleteVersion: unexpected('S3 DeleteObject'),
      ...parts.objects,
    },
    notifier: parts.notifier ?? { publish: unexpected('SNS Publish') },
    forwarder: parts.forwarder ?? { forward: unexpected('the validation queue') },
    scanner: parts.scanner ?? { scan: unexpected('clamd') },
    ...(parts.results ? { results: parts.results } : {}),
    engine: parts.engine ?? unexpected('clamd VERSION'),
    now:
      parts.now ??
      (() => {
        throw new Error('the clock must not be read here');
      }),
  };
}

/** One source as the single-bucket variables describe it (bucket "unprocessed", validation queue "validation"), with `overrides`. */
export function testSource(overrides: Partial<Source> = {}): Source {
  return {
    label: 'UNPROCESSED_BUCKET_NAME',
    bucket: 'unprocessed',
    prefix: '',
    keyLayout: 'submission',
    quarantine: { bucket: 'quarantine', prefix: '' },
    validationQueue: { name: 'validation' },
    notificationTopicArn: undefined,
    statusTag: undefined,
    ...overrides,
  };
}

/** Settings with one source (`source` over testSource's defaults), or `rest.sources`. */
export function pipelineSettings(source: Partial<Source> = {}, rest: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    sources: [testSource(source)],
    maxFileSizeBytes: 1024 * 1024,
    unscannableAction: 'quarantine',
    multipartCopyThresholdBytes: 5 * 1024 ** 3,
    ...rest,
  };
}

/** A context for processMessage: the given logger, settings for the bucket `rules` names, and deps. */
export function messageContext(
  logger: Logger,
  rules: { bucket: string; prefix: string },
  deps: PipelineDeps = pipelineDeps(),
  extra: Partial<MessageContext> = {},
): MessageContext {
  return { settings: pipelineSettings(rules), deps, logger, ...extra };
}
