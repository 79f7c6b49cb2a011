/**
 * Amazon EventBridge's "Object Created" events from S3, the third shape an
 * inbound message may have besides S3's own notification (direct or through
 * SNS): one event per message, the object in `detail`. EventBridge is how one
 * queue hears many buckets without owning their notification configuration.
 *
 * What is read (docs/behaviour.md, "Accepted messages"):
 * - `source` "aws.s3" and `detail-type` "Object Created" (anything else is refused
 *   as a whole message: src/events/message.ts);
 * - `detail.bucket.name`, `detail.object.key`, `size`, `etag`, `version-id`;
 *   `time`, `region`, `reason` and the request fields for the S3 record a clean
 *   file is forwarded as.
 * - The key is decoded as in S3 notifications (form encoding: `+` a space, `%2B`
 *   a plus). AWS's event reference does not say; AWS's own Powertools for Lambda
 *   decodes it so (S3EventBridgeNotificationObject.key, unquote_plus).
 *
 * Tolerated beside the documented shape, because emulators send them (moto) and
 * they cannot be misread: `eTag` for `etag`, `version-id` "null" for no version
 * (S3's name for the version of an unversioned object, which pins nothing), and
 * a `reason` that names no creation API. moto's keys are not percent-encoded;
 * that cannot be told apart from an encoded key, so it is not tolerated: a moto
 * key with "+" or "%" is read as S3 would have encoded it.
 */
import * as z from '../shared/zod.ts';
import { decodeEventKey } from './key.ts';
import {
  checkObject,
  MAX_RECORD_DEPTH,
  nestsDeeperThan,
  optionalString,
  requiredString,
  section,
  size,
  type RecordCheck,
  type RecordRules,
} from './record.ts';
import { encodeEventKey, writeEventName, type ObjectCreatedEventName } from './s3-event.ts';
import { quoteValue, unquoteETag } from './text.ts';

export const EVENTBRIDGE_S3_SOURCE = 'aws.s3';
export const OBJECT_CREATED = 'Object Created';

/**
 * The configurationId of the S3 record an EventBridge event is forwarded as, so
 * the validation queue's consumers can tell it from S3's own notifications.
 */
export const EVENTBRIDGE_CONFIGURATION_ID = 'bucketscan-eventbridge';

/** An EventBridge event, of any source: it names a detail-type. */
export function looksLikeEventBridge(document: Record<string, unknown>): boolean {
  return typeof document['detail-type'] === 'string';
}

/** Why an EventBridge event is not one bucketscan scans for, or undefined when it is an S3 "Object Created". */
export function eventBridgeProblem(document: Record<string, unknown>): string | undefined {
  const source = document['source'];
  if (source !== EVENTBRIDGE_S3_SOURCE) {
    return typeof source === 'string'
      ? `EventBridge event from ${quoteValue(source)} is not an S3 event (source "${EVENTBRIDGE_S3_SOURCE}")`
      : `EventBridge event has no source "${EVENTBRIDGE_S3_SOURCE}"`;
  }
  const detailType = document['detail-type'];
  if (detailType !== OBJECT_CREATED) {
    return `EventBridge event ${quoteValue(String(detailType))} is not an object creation ("${OBJECT_CREATED}")`;
  }
  return undefined;
}

const WHAT = 'event';

/** Informational fields: used when they are strings, ignored otherwise (they decide nothing). */
const info = z.pipe(
  z.optional(z.unknown()),
  z.transform((value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined)),
);

const eventSchema = z.object({
  time: requiredString('time', WHAT),
  region: info,
  account: info,
  resources: z.optional(z.unknown()),
  detail: section(
    '"detail" section',
    {
      bucket: section(
        'detail.bucket',
        { name: requiredString('bucket name', WHAT).check(z.minLength(1, 'event bucket name is empty')) },
        WHAT,
      ),
      object: section(
        'detail.object',
        {
          key: requiredString('object key', WHAT).check(z.minLength(1, 'event object key is empty')),
          size,
          etag: optionalString('etag'),
          eTag: optionalString('eTag'),
          'version-id': optionalString('version-id'),
          sequencer: info,
        },
        WHAT,
      ),
      reason: info,
      'request-id': info,
      requester: info,
      'source-ip-address': info,
    },
    WHAT,
  ),
});

type ParsedEvent = z.output<typeof eventSchema>;

/**
 * The creation APIs EventBridge names in `reason`, as S3 notifications name them.
 * A Map, so that a reason such as "__proto__" or "toString" names nothing.
 */
const EVENT_NAMES: ReadonlyMap<string, ObjectCreatedEventName> = new Map([
  ['PutObject', 'ObjectCreated:Put'],
  ['POST Object', 'ObjectCreated:Post'],
  ['CopyObject', 'ObjectCreated:Copy'],
  ['CompleteMultipartUpload', 'ObjectCreated:CompleteMultipartUpload'],
]);

/** The bucket's ARN as the event gives it (any partition), else the aws partition's. */
function bucketArn(resources: unknown, bucket: string): string {
  const first = Array.isArray(resources) ? resources[0] : undefined;
  return typeof first === 'string' && /^arn:aws[a-z-]*:s3:::/.test(first) ? first : `arn:aws:s3:::${bucket}`;
}

/**
 * The S3 notification record an EventBridge event stands for, as a clean file's
 * event is forwarded: the key encoded as S3 encodes it, `eventName` from the
 * `reason`, and only the fields the event carries.
 */
function s3RecordOf(
  event: ParsedEvent,
  key: string,
  eventName: ObjectCreatedEventName,
  eTag: string | undefined,
  versionId: string | undefined,
) {
  const { detail } = event;
  const bucket = detail.bucket.name;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    ...(event.region ? { awsRegion: event.region } : {}),
    eventTime: event.time,
    eventName,
    ...(detail.requester ? { userIdentity: { principalId: detail.requester } } : {}),
    ...(detail['source-ip-address'] ? { requestParameters: { sourceIPAddress: detail['source-ip-address'] } } : {}),
    ...(detail['request-id'] ? { responseElements: { 'x-amz-request-id': detail['request-id'] } } : {}),
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: EVENTBRIDGE_CONFIGURATION_ID,
      bucket: {
        name: bucket,
        ...(event.account ? { ownerIdentity: { principalId: event.account } } : {}),
        arn: bucketArn(event.resources, bucket),
      },
      object: {
        key: encodeEventKey(key),
        ...(detail.object.size === undefined ? {} : { size: detail.object.size }),
        ...(eTag ? { eTag } : {}),
        ...(versionId ? { versionId } : {}),
        ...(detail.object.sequencer ? { sequencer: detail.object.sequencer } : {}),
      },
    },
  };
}

/**
 * Decides whether an EventBridge event names an object a source scans, with the
 * same rules and reasons as an S3 record (src/events/record.ts); `source` and
 * `detail-type` were checked with the message, and are checked again here.
 */
export function checkEventBridgeEvent<R extends RecordRules>(event: unknown, rules: R | readonly R[]): RecordCheck<R> {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, reason: 'event is not a JSON object' };
  }
  const problem = eventBridgeProblem(event as Record<string, unknown>);
  if (problem) return { ok: false, reason: problem };
  if (nestsDeeperThan(event, MAX_RECORD_DEPTH)) {
    return { ok: false, reason: `event is nested more than ${MAX_RECORD_DEPTH} levels deep` };
  }
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues[0]?.message ?? 'event has the wrong shape' };
  const e = parsed.data;
  const object = e.detail.object;
  const bucket = e.detail.bucket.name;
  const decoded = decodeEventKey(object.key);
  if (!decoded.ok) return { ok: false, reason: decoded.reason, bucket };
  const key = decoded.key;
  const eTag = object.etag ?? object.eTag;
  const versionId = object['version-id'] === 'null' ? undefined : object['version-id'];
  const eventName = EVENT_NAMES.get(e.detail.reason ?? '') ?? writeEventName(eTag ?? '');
  return checkObject(
    {
      bucket,
      key,
      size: object.size,
      eTag,
      versionId,
      eventName,
      eventTime: e.time,
      record: () => s3RecordOf(e, key, eventName, unquoteETag(eTag), versionId),
    },
    rules,
  );
}
