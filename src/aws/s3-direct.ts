/**
 * The two S3 calls every clean file makes (GetObject, PutObjectTagging) without
 * the SDK's per-request middleware stack. Measured on the worker (docs/benchmarks.md,
 * "Worker CPU"), the SDK's stack costs more CPU per request than the request
 * itself: serialisation schemas, endpoint rules, a dozen middleware closures, the
 * user agent, retries and signing, rebuilt for every call. Here the per-bucket
 * work (the endpoint, from the SDK's own endpoint rules) is done once, and a
 * request is a signed HTTP call.
 *
 * What it keeps from the SDK, so that it behaves as the SDK path did:
 * - the client's own configuration: region, endpoint and path style, the
 *   credential provider (the SDK's, which refreshes expiring credentials), the
 *   retry budget (maxAttempts), and SigV4 signing (@smithy/signature-v4);
 * - retries of throttling, 5xx and network failures before a response, with
 *   jittered exponential backoff, as the SDK's standard retry mode does;
 * - connect (5 s) and idle-socket (60 s) timeouts, keep-alive pools;
 * - errors shaped as the SDK's (name and Code = S3's error code, $metadata with
 *   the HTTP status), so src/aws/errors.ts classifies them the same way, and the
 *   same error listener (bucketscan_aws_errors_total) after the retries;
 * - the integrity check of the body (x-amz-checksum-mode: ENABLED), natively
 *   where Node has the algorithm (see `checksumOf`).
 *
 * Anything it does not handle goes to the SDK instead: buckets whose endpoint is
 * not plain SigV4 (S3 Express directory buckets, access point ARNs, multi-region
 * access points) and answers that need the SDK's redirect handling (a bucket in
 * another region): `DirectUnsupported` tells the caller to send the SDK command.
 */
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';

/** Tells the caller to make this call with the SDK (see the file's comment). */
export class DirectUnsupported extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DirectUnsupported';
  }
}

/** An error as the SDK shapes a service error: name and Code, $fault, $metadata. */
export class S3ServiceError extends Error {
  readonly Code: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: { httpStatusCode: number; requestId: string | undefined; attempts: number };

  constructor(code: string, message: string, status: number, requestId: string | undefined, attempts: number) {
    super(message || code);
    this.name = code;
    this.Code = code;
    this.$fault = status >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode: status, requestId, attempts };
  }
}

interface Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** "/bucket" for path-style addressing, "" for a virtual-hosted bucket. */
  basePath: string;
  signer: SignatureV4;
}

export interface DirectS3Options {
  /** Per protocol, as the SDK's handler is sized (src/aws/clients.ts). Default 16. */
  maxSockets?: number;
  connectTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Told of every call that failed after its retries, as the SDK clients' error middleware is. */
  onError?: (service: string, operation: string, error: unknown) => void;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
const THROTTLING_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException']);
const TRANSIENT_CODES = new Set(['RequestTimeout', 'RequestTimeoutException', 'InternalError']);
/** Error bodies are a few hundred bytes; more is not an S3 error document. */
const MAX_ERROR_BODY = 64 * 1024;

/** RFC 3986 escaping, as SigV4 canonicalises (encodeURIComponent leaves !'()* alone). */
const escapeUri = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** S3 keys as URL paths: every byte escaped but the unreserved ones and "/" (as the SDK does). */
const encodeKey = (key: string) => key.split('/').map(escapeUri).join('/');

function xmlText(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

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
function checksumOf(response: IncomingMessage, secure: boolean): Checksum | 'js-only' | undefined {
  const header = (name: string) => {
    const value = response.headers[name];
    return typeof value === 'string' && !/-\d+$/.test(value) ? value : undefined;
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

/** Passes the body through unchanged, and fails it at the end when its checksum is not S3's. */
class ChecksumCheck extends Transform {
  readonly #checksum: Checksum;
  readonly #expected: string;

  constructor(checksum: Checksum, expected: string) {
    super();
    this.#checksum = checksum;
    this.#expected = expected;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#checksum.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.#checksum.digest();
    if (actual === this.#expected) callback();
    else
      callback(
        new Error(
          `Checksum mismatch: expected "${actual}" but received "${this.#expected}" in response header "${this.#checksum.header}".`,
        ),
      );
  }
}

export interface GetObjectResult {
  Body: NodeJS.ReadableStream & import('node:stream').Readable;
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

interface Call {
  operation: string;
  method: 'GET' | 'PUT';
  bucket: string;
  key: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal | undefined;
}

export class DirectS3 {
  readonly #client: S3Client;
  readonly #options: Required<Omit<DirectS3Options, 'onError'>> & Pick<DirectS3Options, 'onError'>;
  readonly #targets = new Map<string, Promise<Target | undefined>>();
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;

  constructor(client: S3Client, options: DirectS3Options = {}) {
    this.#client = client;
    this.#options = { maxSockets: 16, connectTimeoutMs: 5_000, socketTimeoutMs: 60_000, ...options };
    this.#httpAgent = new HttpAgent({ keepAlive: true, maxSockets: this.#options.maxSockets });
    this.#httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: this.#options.maxSockets });
  }

  destroy(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async getObject(
    input: { Bucket: string; Key: string; VersionId?: string | undefined; IfMatch?: string | undefined },
    signal?: AbortSignal,
  ): Promise<GetObjectResult> {
    const response = await this.#send({
      operation: 'GetObject',
      method: 'GET',
      bucket: input.Bucket,
      key: input.Key,
      query: input.VersionId ? { versionId: input.VersionId } : {},
      headers: { 'x-amz-checksum-mode': 'ENABLED', ...(input.IfMatch ? { 'if-match': input.IfMatch } : {}) },
      signal,
    });
    const target = await this.#target(input.Bucket);
    const checksum = checksumOf(response, target?.protocol === 'https:');
    if (checksum === 'js-only') {
      response.destroy();
      throw new DirectUnsupported('a CRC32C or CRC64NVME checksum over plain http');
    }
    const headers = response.headers;
    const text = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
    const number = (name: string) => (text(name) === undefined ? undefined : Number(text(name)));
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = value;
    }
    const body = checksum ? response.pipe(new ChecksumCheck(checksum, text(checksum.header)!)) : response;
    if (checksum) {
      // The source's own failures (a reset, a cut) must reach whoever reads the check.
      response.once('error', (error) => body.destroy(error));
      body.once('close', () => response.destroy());
    }
    return {
      Body: body,
      ContentLength: number('content-length'),
      ETag: text('etag'),
      VersionId: text('x-amz-version-id'),
      TagCount: number('x-amz-tagging-count'),
      ContentType: text('content-type'),
      Metadata: metadata,
      ServerSideEncryption: text('x-amz-server-side-encryption'),
      SSEKMSKeyId: text('x-amz-server-side-encryption-aws-kms-key-id'),
      BucketKeyEnabled:
        text('x-amz-server-side-encryption-bucket-key-enabled') === undefined
          ? undefined
          : text('x-amz-server-side-encryption-bucket-key-enabled') === 'true',
    };
  }

  async putObjectTagging(input: { Bucket: string; Key: string; VersionId?: string | undefined; TagSet: Tag[] }): Promise<void> {
    const tags = input.TagSet.map((tag) => `<Tag><Key>${escapeXml(tag.Key ?? '')}</Key><Value>${escapeXml(tag.Value ?? '')}</Value></Tag>`);
    const body = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${tags.join('')}</TagSet></Tagging>`,
    );
    const response = await this.#send({
      operation: 'PutObjectTagging',
      method: 'PUT',
      bucket: input.Bucket,
      key: input.Key,
      query: { tagging: '', ...(input.VersionId ? { versionId: input.VersionId } : {}) },
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
    // biome-ignore lint/suspicious/noExplicitAny: the resolved client configuration is not in the SDK's public types
    const config = this.#client.config as any;
    // Not an SDK client (a test double with only `send`): its own send is the way.
    if (typeof config?.endpointProvider !== 'function') return undefined;
    const region: string = await config.region();
    const endpoint = await config.endpoint?.();
    const custom = config.isCustomEndpoint === true && endpoint;
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ForcePathStyle: config.forcePathStyle === true,
      Accelerate: config.useAccelerateEndpoint === true,
      ...(custom
        ? { Endpoint: `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path ?? ''}` }
        : {}),
    }) as { url: URL; properties?: { authSchemes?: Array<{ name: string; signingName?: string; signingRegion?: string }> } };
    const scheme = resolved.properties?.authSchemes?.[0];
    if (scheme?.name !== 'sigv4' || Object.keys(resolved.properties ?? {}).some((key) => key !== 'authSchemes')) return undefined;
    const url = new URL(String(resolved.url));
    if (url.search || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
    return {
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      basePath: url.pathname.replace(/\/$/, ''),
      signer: new SignatureV4({
        credentials: config.credentials,
        region: scheme.signingRegion ?? region,
        service: scheme.signingName ?? 's3',
        sha256: config.sha256,
        uriEscapePath: false,
        applyChecksum: false,
      }),
    };
  }

  /** One call with its retries; resolves with a 2xx response whose body is unread. */
  async #send(call: Call): Promise<IncomingMessage> {
    const target = await this.#target(call.bucket);
    if (!target) throw new DirectUnsupported(`bucket ${call.bucket} needs the SDK's endpoint handling`);
    // biome-ignore lint/suspicious/noExplicitAny: as in #resolve
    const maxAttempts: number = Number(await (this.#client.config as any).maxAttempts()) || 3;
    for (let attempt = 1; ; attempt += 1) {
      let failure: unknown;
      let retryable = false;
      let throttled = false;
      try {
        const response = await this.#attempt(target, call);
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return response;
        if (status === 301 || status === 307 || (status === 400 && response.headers['x-amz-bucket-region'])) {
          response.resume();
          throw new DirectUnsupported(`S3 redirected ${call.bucket} (HTTP ${status})`);
        }
        const error = await this.#serviceError(response, attempt);
        failure = error;
        throttled = THROTTLING_CODES.has(error.Code) || status === 429;
        retryable = throttled || RETRYABLE_STATUS.has(status) || TRANSIENT_CODES.has(error.Code);
      } catch (error) {
        if (error instanceof DirectUnsupported) throw error;
        failure = error;
        // A network failure before any response: nothing was read, so the call can be made again.
        retryable = !call.signal?.aborted && (error as { name?: string }).name !== 'AbortError';
      }
      if (!retryable || attempt >= maxAttempts) {
        this.#options.onError?.('S3', call.operation, failure);
        throw failure;
      }
      // The SDK's standard retry: full jitter over an exponential ceiling (longer for throttling).
      const base = throttled ? 500 : 100;
      await delay(Math.random() * Math.min(20_000, base * 2 ** attempt), undefined, call.signal ? { signal: call.signal } : {});
    }
  }

  async #attempt(target: Target, call: Call): Promise<IncomingMessage> {
    const path = `${target.basePath}/${encodeKey(call.key)}`;
    const headers: Record<string, string> = {
      host: target.port ? `${target.hostname}:${target.port}` : target.hostname,
      'x-amz-content-sha256': call.body ? createHash('sha256').update(call.body).digest('hex') : EMPTY_SHA256,
      ...call.headers,
      ...(call.body ? { 'content-length': String(call.body.length) } : {}),
    };
    const signed = await target.signer.sign({
      method: call.method,
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: target.port } : {}),
      path,
      query: call.query,
      headers,
    });
    const query = Object.entries(call.query)
      .map(([name, value]) => (value === '' ? escapeUri(name) : `${escapeUri(name)}=${escapeUri(value)}`))
      .join('&');
    const secure = target.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = send({
        agent: secure ? this.#httpsAgent : this.#httpAgent,
        method: call.method,
        hostname: target.hostname,
        ...(target.port ? { port: target.port } : {}),
        path: query ? `${path}?${query}` : path,
        headers: signed.headers,
        timeout: this.#options.socketTimeoutMs,
        ...(call.signal ? { signal: call.signal } : {}),
      });
      request.once('response', resolve);
      request.once('error', reject);
      // Idle socket time, not total time (a large body takes as long as clamd does).
      request.once('timeout', () =>
        request.destroy(
          Object.assign(new Error(`S3 socket idle for ${this.#options.socketTimeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' }),
        ),
      );
      request.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () =>
            request.destroy(
              Object.assign(new Error(`could not connect to S3 within ${this.#options.connectTimeoutMs} ms`), {
                name: 'TimeoutError',
                code: 'ETIMEDOUT',
              }),
            ),
          this.#options.connectTimeoutMs,
        );
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      request.end(call.body);
    });
  }

  async #serviceError(response: IncomingMessage, attempts: number): Promise<S3ServiceError> {
    const status = response.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > MAX_ERROR_BODY) break;
        chunks.push(chunk);
      }
    } catch {
      // A body cut short still has its status.
    }
    const xml = Buffer.concat(chunks).toString('utf8');
    const requestId = typeof response.headers['x-amz-request-id'] === 'string' ? response.headers['x-amz-request-id'] : undefined;
    // HEAD-like answers and some proxies send no body: name the error by its status, as the SDK does.
    const code =
      xmlText(xml, 'Code') ??
      (status === 404 ? 'NotFound' : status === 412 ? 'PreconditionFailed' : status === 304 ? 'NotModified' : `${status}`);
    return new S3ServiceError(code, xmlText(xml, 'Message') ?? '', status, xmlText(xml, 'RequestId') ?? requestId, attempts);
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
