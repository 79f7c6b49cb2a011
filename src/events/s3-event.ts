import { randomBytes } from 'node:crypto';

/**
 * Builders for the JSON documents Amazon S3 delivers to an SQS queue when a bucket
 * has an event notification configured. Two callers fabricate them: the local
 * stack (the emulator has no notification support) and `bucketscan rescan` (which
 * asks the workers to scan existing objects again). Keeping them byte-for-byte in
 * S3's shape means the worker cannot tell either from the real thing.
 */

export type ObjectCreatedEventName =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Post'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload';

export interface ObjectCreatedInput {
  bucket: string;
  /** The key exactly as stored; it is encoded here, the way S3 does for events. */
  key: string;
  size: number;
  /** Without the surrounding double quotes that HTTP ETag headers carry. */
  eTag: string;
  versionId?: string;
  eventName: ObjectCreatedEventName;
  region: string;
  eventTime: Date;
  sequencer: string;
  requestId?: string;
  hostId?: string;
  /** The notification configuration's Id; S3 echoes it so consumers can tell rules apart. */
  configurationId?: string;
  /** Who caused the event ("AWS:<id>" in S3's events); defaults to the local stand-in. */
  principalId?: string;
  sourceIPAddress?: string;
}

export interface S3EventRecord {
  eventVersion: '2.1';
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: ObjectCreatedEventName;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size: number; eTag: string; versionId?: string; sequencer: string };
  };
}

export interface S3EventDocument {
  Records: S3EventRecord[];
}

export interface S3TestEvent {
  Service: 'Amazon S3';
  Event: 's3:TestEvent';
  Time: string;
  Bucket: string;
  RequestId: string;
  HostId: string;
}

export const DEFAULT_CONFIGURATION_ID = 'bucketscan-local';

// There is no IAM behind the emulator. These stand in for the caller and the bucket
// owner with the same shape S3 uses ("AWS:<id>" for the caller, a bare id for the owner)
// so that code that only reads or logs these fields behaves as it does against AWS.
const LOCAL_CALLER_PRINCIPAL = 'AWS:000000000000';
const LOCAL_OWNER_PRINCIPAL = '000000000000';
const LOCAL_SOURCE_IP = '127.0.0.1';

const utf8 = new TextEncoder();

/**
 * Encodes a key the way S3 writes it into event notifications: form encoding
 * (application/x-www-form-urlencoded, space becomes "+") over the UTF-8 bytes,
 * except that "/" is left alone. Only ASCII letters, digits and `. - _ *` survive
 * unencoded besides "/", so a literal "+" must come out as "%2B" to stay
 * distinguishable from an encoded space.
 */
export function encodeEventKey(key: string): string {
  let encoded = '';
  for (const byte of utf8.encode(key)) {
    if (isLeftAsIs(byte)) {
      encoded += String.fromCharCode(byte);
    } else if (byte === 0x20) {
      encoded += '+';
    } else {
      encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return encoded;
}

function isLeftAsIs(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x2e || // .
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2a || // *
    byte === 0x2f // /
  );
}

/**
 * The event name S3 gives a plain write: only multipart uploads get the
 * "<md5 of part md5s>-<part count>" form of ETag.
 */
export function writeEventName(eTag: string): 'ObjectCreated:Put' | 'ObjectCreated:CompleteMultipartUpload' {
  return /-\d+$/.test(eTag) ? 'ObjectCreated:CompleteMultipartUpload' : 'ObjectCreated:Put';
}

export function buildObjectCreatedRecord(input: ObjectCreatedInput): S3EventRecord {
  const object: S3EventRecord['s3']['object'] = {
    key: encodeEventKey(input.key),
    size: input.size,
    eTag: input.eTag,
    sequencer: input.sequencer,
  };
  // S3 leaves versionId out entirely for unversioned buckets rather than sending null.
  if (input.versionId !== undefined) object.versionId = input.versionId;

  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: input.region,
    eventTime: input.eventTime.toISOString(),
    eventName: input.eventName,
    userIdentity: { principalId: input.principalId ?? LOCAL_CALLER_PRINCIPAL },
    requestParameters: { sourceIPAddress: input.sourceIPAddress ?? LOCAL_SOURCE_IP },
    responseElements: {
      'x-amz-request-id': input.requestId ?? newRequestId(),
      'x-amz-id-2': input.hostId ?? newHostId(),
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: input.configurationId ?? DEFAULT_CONFIGURATION_ID,
      bucket: {
        name: input.bucket,
        ownerIdentity: { principalId: LOCAL_OWNER_PRINCIPAL },
        arn: `arn:aws:s3:::${input.bucket}`,
      },
      object,
    },
  };
}

export function buildEventDocument(records: S3EventRecord[]): S3EventDocument {
  return { Records: records };
}

/**
 * The message S3 sends once when a notification configuration is saved. It has
 * no Records array, so consumers have to recognise and drop it.
 */
export function buildTestEvent(bucket: string, options: { time?: Date; requestId?: string; hostId?: string } = {}): S3TestEvent {
  return {
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: (options.time ?? new Date()).toISOString(),
    Bucket: bucket,
    RequestId: options.requestId ?? newRequestId(),
    HostId: options.hostId ?? newHostId(),
  };
}

/**
 * Returns a generator of sequencers: fixed-width upper-case hex strings that strictly
 * increase for the life of the generator and, being derived from the clock, also
 * across restarts. S3 only promises ordering between events of the same key; a
 * single global order satisfies that and needs no per-key state.
 */
export function createSequencer(clock: () => number = Date.now): () => string {
  // Milliseconds shifted left leave 20 bits of room, so a burst of events inside one
  // millisecond keeps increasing without running ahead of the clock for long.
  const SHIFT = 20n;
  let last = -1n;
  return () => {
    const fromClock = BigInt(Math.trunc(clock())) << SHIFT;
    last = fromClock > last ? fromClock : last + 1n;
    // 18 digits, as in S3's own sequencers; equal width makes string order numeric order.
    return last.toString(16).toUpperCase().padStart(18, '0');
  };
}

/** 16 upper-case hex digits, the format of S3's x-amz-request-id. */
function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** An opaque base64 token in the style of S3's x-amz-id-2. */
function newHostId(): string {
  return randomBytes(48).toString('base64');
}
