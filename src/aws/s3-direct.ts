/**
 * The S3 calls every clean file makes (GetObject, PutObjectTagging, and
 * GetObjectTagging for a file that has tags of its own) by the
 * lean signed path (src/aws/signed-http.ts: signing, retries, timeouts,
 * credentials and SDK-shaped errors), without the SDK's per-request middleware
 * stack. The per-bucket work (the endpoint, from the SDK's own endpoint rules) is
 * done once, and a request is a signed HTTP call.
 *
 * What it adds for S3: the integrity check of the body (x-amz-checksum-mode:
 * ENABLED), natively where Node has the algorithm (see `checksumOf`), and S3's
 * XML errors.
 *
 * Anything it does not handle goes to the SDK instead: buckets whose endpoint is
 * not plain SigV4 (S3 Express directory buckets, access point ARNs, multi-region
 * access points) and answers that need the SDK's redirect handling (a bucket in
 * another region): `DirectUnsupported` tells the caller to send the SDK command.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import type { LendingBody } from '../shared/lending.ts';
import type { HttpResponse } from './http1.ts';
import {
  AwsServiceError,
  canonicalQuery,
  customEndpoint,
  DirectUnsupported,
  endpointOf,
  escapeUri,
  resolvedConfigOf,
  SignedHttp,
  type Endpoint,
  type SignedHttpOptions,
} from './signed-http.ts';

export { DirectUnsupported };

interface Target {
  endpoint: Endpoint;
  /** "/bucket" for path-style addressing, "" for a virtual-hosted bucket. */
  basePath: string;
  http: SignedHttp;
}

export type DirectS3Options = Pick<SignedHttpOptions, 'maxSockets' | 'connectTimeoutMs' | 'socketTimeoutMs' | 'onError'>;

/** S3 keys as URL paths: every byte escaped but the unreserved ones and "/" (as the SDK does). */
const encodeKey = (key: string) => key.split('/').map(escapeUri).join('/');

function xmlText(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

/** XML's five entities and numeric character references, as the SDK's parser reads them. */
const unescapeXml = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity as 'amp']!;
  });

function crc32Base64(body: Buffer): string {
  const digest = Buffer.allocUnsafe(4);
  digest.writeUInt32BE(crc32(body) >>> 0, 0);
  return digest.toString('base64');
}

interface Checksum {
  header: string;
  update(chunk: Buffer): void;
  digest(): string;
}

/**
 * The checksum to check a GetObject body against, by the SDK's order of
 * preference, when S3 sent one for the whole object (a multipart upload's
 * composite "…-N" checksum covers parts, not the body, and is skipped, as the SDK
 * skips it). Computed natively: CRC32 with zlib, SHA-1 and SHA-256 with OpenSSL.
 *
 * CRC32C and CRC64NVME (S3's default for uploads that name no checksum) have no
 * native implementation in Node; in JavaScript they cost about 2.8 ms per MB, more
 * than the rest of the worker's work on the bytes. They are left to TLS: over
 * https every byte is authenticated by the TLS record layer (AES-GCM or
 * ChaCha20-Poly1305, a 128-bit tag), so a byte changed in transit fails the
 * connection, and the GET with it, far more surely than a CRC would catch it. On a
 * plain-http endpoint (an emulator, a store on a private network) nothing else
 * protects the bytes, so such a response is not taken from this path: the caller
 * is told to use the SDK, which checks them in JavaScript.
 */
function checksumOf(response: HttpResponse, secure: boolean): Checksum | 'js-only' | undefined {
  const header = (name: string) => {
    const value = response.headers[name];
    return value !== undefined && !/-\d+$/.test(value) ? value : undefined;
  };
  for (const [name, algorithm] of [
    ['x-amz-checksum-sha256', 'sha256'],
    ['x-amz-checksum-sha1', 'sha1'],
  ] as const) {
    if (header(name)) {
      const hash = createHash(algorithm);
      return { header: name, update: (chunk) => hash.update(chunk), digest: () => hash.digest('base64') };
    }
  }
  if (header('x-amz-checksum-crc32')) {
    let value = 0;
    return {
      header: 'x-amz-checksum-crc32',
      update: (chunk) => {
        value = crc32(chunk, value);
      },
      digest: () => {
        const out = Buffer.allocUnsafe(4);
        out.writeUInt32BE(value >>> 0, 0);
        return out.toString('base64');
      },
    };
  }
  if (!secure && (header('x-amz-checksum-crc32c') || header('x-amz-checksum-crc64nvme'))) return 'js-only';
  return undefined;
}

/**
 * A GetObject body, read once: as copies (iterated) or lent to the clamd client
 * (src/shared/lending.ts); either way checked at its end against the checksum S3
 * sent, and failed when it differs.
 */
export class ObjectBody implements LendingBody {
  readonly #response: HttpResponse;
  readonly #checksum: Checksum | undefined;

  constructor(response: HttpResponse, checksum: Checksum | undefined) {
    this.#response = response;
    this.#checksum = checksum;
  }

  get destroyed(): boolean {
    return this.#response.destroyed;
  }

  #checked(pieces: AsyncIterable<Buffer>): AsyncIterator<Buffer> {
    const inner = pieces[Symbol.asyncIterator]();
    const checksum = this.#checksum;
    return {
      next: async () => {
        const step = await inner.next();
        if (!checksum) return step;
        if (!step.done) {
          checksum.update(step.value);
          return step;
        }
        const expected = this.#response.headers[checksum.header];
        const actual = checksum.digest();
        if (actual !== expected) {
          throw new Error(`Checksum mismatch: expected "${actual}" but received "${expected}" in response header "${checksum.header}".`);
        }
        return step;
      },
      return: async () => {
        this.#response.destroy();
        return { value: undefined, done: true };
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#checked(this.#response);
  }

  lend(): AsyncIterable<Buffer> {
    const iterator = this.#checked(this.#response.lend());
    return { [Symbol.asyncIterator]: () => iterator };
  }

  release(view: Uint8Array): void {
    this.#response.release(view);
  }

  destroy(error?: Error): void {
    this.#response.destroy(error);
  }
}

export interface GetObjectResult {
  Body: ObjectBody;
  ContentLength: number | undefined;
  ETag: string | undefined;
  VersionId: string | undefined;
  TagCount: number | undefined;
  ContentType: string | undefined;
  Metadata: Record<string, string>;
  ServerSideEncryption: string | undefined;
  SSEKMSKeyId: string | undefined;
  BucketKeyEnabled: boolean | undefined;
}

/** A tag set is at most 10 tags of a few hundred bytes; far more is not an answer to read. */
const MAX_TAGGING_BYTES = 1024 * 1024;

interface S3Call {
  operation: string;
  method: 'GET' | 'PUT';
  bucket: string;
  key: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal | undefined;
}

/** S3's XML error, named by its code; HEAD-like answers and some proxies send no body: named by the status, as the SDK does. */
function s3Error(response: HttpResponse, xml: string, attempts: number): AwsServiceError {
  const status = response.statusCode;
  const code =
    xmlText(xml, 'Code') ??
    (status === 404 ? 'NotFound' : status === 412 ? 'PreconditionFailed' : status === 304 ? 'NotModified' : `${status}`);
  return new AwsServiceError({
    name: code,
    code,
    message: xmlText(xml, 'Message') ?? '',
    status,
    requestId: xmlText(xml, 'RequestId') ?? response.headers['x-amz-request-id'],
    attempts,
  });
}

/** A bucket in another region: the SDK's redirect handling is needed. */
function redirected(response: HttpResponse): string | undefined {
  const status = response.statusCode;
  return status === 301 || status === 307 || (status === 400 && response.headers['x-amz-bucket-region'])
    ? `S3 redirected the bucket (HTTP ${status})`
    : undefined;
}

export class DirectS3 {
  readonly #client: S3Client;
  readonly #options: DirectS3Options;
  readonly #targets = new Map<string, Promise<Target | undefined>>();
  /** One signed-request path per signing region and name (almost always one). */
  readonly #paths = new Map<string, SignedHttp>();

  constructor(client: S3Client, options: DirectS3Options = {}) {
    this.#client = client;
    this.#options = options;
  }

  destroy(): void {
    for (const path of this.#paths.values()) path.destroy();
    this.#paths.clear();
  }

  async getObject(
    input: { Bucket: string; Key: string; VersionId?: string | undefined; IfMatch?: string | undefined },
    signal?: AbortSignal,
  ): Promise<GetObjectResult> {
    const target = await this.#target(input.Bucket);
    const response = await this.#send(target, {
      operation: 'GetObject',
      method: 'GET',
      bucket: input.Bucket,
      key: input.Key,
      query: input.VersionId ? { versionId: input.VersionId } : {},
      headers: input.IfMatch ? { 'x-amz-checksum-mode': 'ENABLED', 'if-match': input.IfMatch } : { 'x-amz-checksum-mode': 'ENABLED' },
      signal,
    });
    const checksum = checksumOf(response, target?.endpoint.protocol === 'https:');
    if (checksum === 'js-only') {
      response.destroy();
      throw new DirectUnsupported('a CRC32C or CRC64NVME checksum over plain http');
    }
    // The lean client's headers are plain strings (repeats joined), lower-case names.
    const headers = response.headers;
    const number = (name: string) => (headers[name] === undefined ? undefined : Number(headers[name]));
    const metadata: Record<string, string> = {};
    for (const name in headers) {
      if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = headers[name]!;
    }
    const body = new ObjectBody(response, checksum);
    const bucketKey = headers['x-amz-server-side-encryption-bucket-key-enabled'];
    return {
      Body: body,
      ContentLength: number('content-length'),
      ETag: headers['etag'],
      VersionId: headers['x-amz-version-id'],
      TagCount: number('x-amz-tagging-count'),
      ContentType: headers['content-type'],
      Metadata: metadata,
      ServerSideEncryption: headers['x-amz-server-side-encryption'],
      SSEKMSKeyId: headers['x-amz-server-side-encryption-aws-kms-key-id'],
      BucketKeyEnabled: bucketKey === undefined ? undefined : bucketKey === 'true',
    };
  }

  /** The tag set of one version (GET ?tagging): S3's XML read for its Key and Value pairs. */
  async getObjectTagging(input: { Bucket: string; Key: string; VersionId?: string | undefined }, signal?: AbortSignal): Promise<Tag[]> {
    const target = await this.#target(input.Bucket);
    const response = await this.#send(target, {
      operation: 'GetObjectTagging',
      method: 'GET',
      bucket: input.Bucket,
      key: input.Key,
      query: input.VersionId ? { tagging: '', versionId: input.VersionId } : { tagging: '' },
      headers: {},
      signal,
    });
    const xml = await response.text(MAX_TAGGING_BYTES);
    const tags: Tag[] = [];
    for (const match of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
      const key = xmlText(match[1]!, 'Key');
      if (key === undefined) continue;
      tags.push({ Key: unescapeXml(key), Value: unescapeXml(xmlText(match[1]!, 'Value') ?? '') });
    }
    return tags;
  }

  async putObjectTagging(input: { Bucket: string; Key: string; VersionId?: string | undefined; TagSet: Tag[] }): Promise<void> {
    let tags = '';
    for (const tag of input.TagSet) tags += `<Tag><Key>${escapeXml(tag.Key ?? '')}</Key><Value>${escapeXml(tag.Value ?? '')}</Value></Tag>`;
    const body = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${tags}</TagSet></Tagging>`,
    );
    const response = await this.#send(await this.#target(input.Bucket), {
      operation: 'PutObjectTagging',
      method: 'PUT',
      bucket: input.Bucket,
      key: input.Key,
      query: input.VersionId ? { tagging: '', versionId: input.VersionId } : { tagging: '' },
      headers: {
        'content-type': 'application/xml',
        'x-amz-sdk-checksum-algorithm': 'CRC32',
        'x-amz-checksum-crc32': crc32Base64(body),
      },
      body,
    });
    response.resume();
  }

  /** The bucket's endpoint, from the SDK's endpoint rules, once per bucket; undefined: not plain SigV4. */
  #target(bucket: string): Promise<Target | undefined> {
    let target = this.#targets.get(bucket);
    if (!target) {
      target = this.#resolve(bucket);
      this.#targets.set(bucket, target);
      target.catch(() => this.#targets.delete(bucket));
    }
    return target;
  }

  async #resolve(bucket: string): Promise<Target | undefined> {
    const config = resolvedConfigOf(this.#client);
    // Not an SDK client (a test double with only `send`): its own send is the way.
    if (!config) return undefined;
    const region = await config.region();
    const custom = await customEndpoint(config);
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ForcePathStyle: config.forcePathStyle === true,
      Accelerate: config.useAccelerateEndpoint === true,
      ...(custom ? { Endpoint: custom } : {}),
    });
    const scheme = resolved.properties?.authSchemes?.[0];
    if (scheme?.name !== 'sigv4' || Object.keys(resolved.properties ?? {}).some((key) => key !== 'authSchemes')) return undefined;
    const endpoint = endpointOf(new URL(String(resolved.url)));
    if (!endpoint) return undefined;
    const signingRegion = scheme.signingRegion ?? region;
    const signingName = scheme.signingName ?? 's3';
    const pathKey = `${signingRegion}/${signingName}`;
    let http = this.#paths.get(pathKey);
    if (!http) {
      http = new SignedHttp({
        ...this.#options,
        service: 'S3',
        region: signingRegion,
        signingName,
        credentials: () => config.credentials(),
        maxAttempts: () => config.maxAttempts(),
      });
      this.#paths.set(pathKey, http);
    }
    return { endpoint, basePath: endpoint.basePath, http };
  }

  /** One call with its retries; resolves with a 2xx response whose body is unread. */
  #send(target: Target | undefined, call: S3Call): Promise<HttpResponse> {
    if (!target) throw new DirectUnsupported(`bucket ${call.bucket} needs the SDK's endpoint handling`);
    return target.http.send({
      operation: call.operation,
      endpoint: target.endpoint,
      method: call.method,
      path: `${target.basePath}/${encodeKey(call.key)}`,
      query: canonicalQuery(call.query),
      sentQuery: Object.entries(call.query)
        .map(([name, value]) => (value === '' ? escapeUri(name) : `${escapeUri(name)}=${escapeUri(value)}`))
        .join('&'),
      headers: call.headers,
      body: call.body,
      contentSha256Header: true,
      signal: call.signal,
      errorOf: s3Error,
      unsupported: redirected,
    });
  }
}

const direct = new WeakMap<S3Client, DirectS3>();

/** Makes the direct path of `client` with these options (src/aws/clients.ts does, for the worker's client). */
export function enableDirectS3(client: S3Client, options: DirectS3Options): DirectS3 {
  direct.get(client)?.destroy();
  const made = new DirectS3(client, options);
  direct.set(client, made);
  return made;
}

/** The direct path of `client`, made with default options on first use. */
export function directS3(client: S3Client): DirectS3 {
  let found = direct.get(client);
  if (!found) {
    found = new DirectS3(client);
    direct.set(client, found);
  }
  return found;
}

/** Closes the direct path's pooled sockets with the client. */
export function destroyDirectS3(client: S3Client): void {
  direct.get(client)?.destroy();
  direct.delete(client);
}
