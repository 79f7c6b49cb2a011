/**
 * The lean request path of the worker's hot AWS calls (src/aws/s3-direct.ts for
 * GetObject and PutObjectTagging, src/aws/sqs-direct.ts for ReceiveMessage,
 * DeleteMessageBatch, SendMessageBatch and ChangeMessageVisibility): a signed
 * HTTP request and its retries, without the SDK's per-request middleware stack
 * (serialisation schemas, endpoint rules, a dozen closures, the user agent),
 * which cost more CPU per call than the call itself (docs/benchmarks.md, "Worker
 * CPU").
 *
 * What it keeps from the SDK, so the calls behave as they did through it:
 * - the client's own configuration: region, endpoint, the credential provider
 *   (the SDK's, which refreshes expiring credentials: it is asked on every
 *   request and caches itself), the retry budget (maxAttempts);
 * - SigV4 (`Signer`): the same canonical request and signature as the SDK's
 *   signer (test/unit/signed-http.test.ts compares them), the signing key
 *   derived once per day, region, service and secret, as the SDK caches it;
 * - retries of throttling, 5xx, transient codes and network failures, with the
 *   SDK's standard jittered exponential backoff;
 * - connect (5 s) and idle-socket (60 s) timeouts, keep-alive pools (the HTTP/1.1
 *   client is bucketscan's own, src/aws/http1.ts, not node:http's);
 * - errors shaped as the SDK's (`AwsServiceError`: name and Code, $fault,
 *   $metadata with the HTTP status), so src/aws/errors.ts classifies them the
 *   same way, and the error listener (bucketscan_aws_errors_total) after retries.
 */
import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { HttpPool, type HttpResponse } from './http1.ts';
import { backoffSeconds, sleep } from '../shared/time.ts';

/** Tells the caller to make this call with the SDK instead (an endpoint or answer this path does not handle). */
export class DirectUnsupported extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DirectUnsupported';
  }
}

/** An error as the SDK shapes a service error: name and Code, $fault, $metadata. */
export class AwsServiceError extends Error {
  readonly Code: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: { httpStatusCode: number; requestId: string | undefined; attempts: number };

  constructor(fields: { name: string; code: string; message: string; status: number; requestId: string | undefined; attempts: number }) {
    super(fields.message || fields.name);
    this.name = fields.name;
    this.Code = fields.code;
    this.$fault = fields.status >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode: fields.status, requestId: fields.requestId, attempts: fields.attempts };
  }
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** Where a service is reached: from the SDK's endpoint rules, once. */
export interface Endpoint {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
}

export function hostOf(endpoint: Endpoint): string {
  const name = endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname;
  return endpoint.port ? `${name}:${endpoint.port}` : name;
}

/** RFC 3986 escaping, as SigV4 canonicalises (encodeURIComponent leaves !'()* alone). */
export const escapeUri = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** A query as SigV4 wants it canonical (sorted, escaped); the same string is sent. */
export function canonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .map((name) => [escapeUri(name), escapeUri(query[name]!)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** One-shot (no Hash object to build): a third of createHash's cost for a small input. */
export const sha256Hex = (body: Buffer | string) => hash('sha256', body, 'hex');

/**
 * AWS Signature Version 4 for one region and service. The derived signing key
 * depends only on the day, the region, the service and the secret, so it is
 * kept until one of them changes (the SDK's signer caches it the same way).
 */
export class Signer {
  readonly #region: string;
  readonly #service: string;
  #key: { day: string; secret: string; key: KeyObject } | undefined;

  constructor(region: string, service: string) {
    this.#region = region;
    this.#service = service;
  }

  /**
   * Adds x-amz-date, x-amz-security-token (with temporary credentials) and
   * authorization to `headers`, whose names must be lower case and which must
   * hold `host`. `path` is sent as given (already escaped); `query` is canonical.
   */
  sign(
    request: { method: string; path: string; query: string; headers: Record<string, string>; payloadHash: string },
    credentials: Credentials,
    now: Date = new Date(),
  ): void {
    const { headers } = request;
    const stamp = now.toISOString();
    const amzDate = `${stamp.slice(0, 4)}${stamp.slice(5, 7)}${stamp.slice(8, 13)}${stamp.slice(14, 16)}${stamp.slice(17, 19)}Z`;
    const day = amzDate.slice(0, 8);
    headers['x-amz-date'] = amzDate;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(headers)
      .filter((name) => name !== 'authorization')
      .sort();
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`;
    const signedHeaders = names.join(';');
    const canonical = `${request.method}\n${request.path}\n${request.query}\n${canonicalHeaders}\n${signedHeaders}\n${request.payloadHash}`;
    const scope = `${day}/${this.#region}/${this.#service}/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
    const signature = createHmac('sha256', this.#signingKey(day, credentials.secretAccessKey)).update(toSign).digest('hex');
    headers['authorization'] =
      `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }

  /** As a KeyObject: an HMAC keyed by one is several times cheaper to make than one keyed by a Buffer. */
  #signingKey(day: string, secret: string): KeyObject {
    const cached = this.#key;
    if (cached && cached.day === day && cached.secret === secret) return cached.key;
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
    const key = createSecretKey(hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.#region), this.#service), 'aws4_request'));
    this.#key = { day, secret, key };
    return key;
  }
}

export interface SignedHttpOptions {
  /** For the error listener: "S3", "SQS". */
  service: string;
  region: string;
  /** SigV4's service name ("s3", "sqs"). */
  signingName: string;
  /** The SDK client's credential provider (it refreshes and caches). */
  credentials: () => Promise<Credentials>;
  /** Tries per call, the first included (the client's maxAttempts). */
  maxAttempts: () => Promise<number>;
  /** Per protocol, as the SDK's handler is sized (src/aws/clients.ts). Default 16. */
  maxSockets?: number;
  connectTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Told of every call that failed after its retries, as the SDK clients' error middleware is. */
  onError?: ((service: string, operation: string, error: unknown) => void) | undefined;
}

export interface Call {
  operation: string;
  endpoint: Endpoint;
  method: 'GET' | 'PUT' | 'POST';
  /** Escaped, as sent and signed. */
  path: string;
  /** Canonical (see canonicalQuery), as signed; sent as is unless `sentQuery` is given. */
  query: string;
  /** The same parameters as sent, where they are written differently (S3's bare `?tagging`). */
  sentQuery?: string;
  /** Lower-case names; host, date and authorization are added. */
  headers: Record<string, string>;
  body?: Buffer | undefined;
  /** The payload hash to sign (hex), and whether to send it as x-amz-content-sha256 (S3 requires it). */
  contentSha256Header?: boolean;
  signal?: AbortSignal | undefined;
  /** The service's error from a non-2xx answer (its body text, at most 64 KiB). */
  errorOf(response: HttpResponse, body: string, attempts: number): AwsServiceError;
  /** A reason to hand the call to the SDK instead, from an answer this path does not handle. */
  unsupported?(response: HttpResponse): string | undefined;
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
const THROTTLING_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
]);
const TRANSIENT_CODES = new Set(['RequestTimeout', 'RequestTimeoutException', 'InternalError', 'TimeoutError']);
/** Error bodies are a few hundred bytes; more is not an error document. */
const MAX_ERROR_BODY = 64 * 1024;

async function readErrorBody(response: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response) {
      bytes += chunk.length;
      if (bytes > MAX_ERROR_BODY) break;
      chunks.push(chunk);
    }
  } catch {
    // A body cut short still has its status.
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class SignedHttp {
  readonly #options: SignedHttpOptions & { maxSockets: number; connectTimeoutMs: number; socketTimeoutMs: number };
  readonly #signer: Signer;
  readonly #pool: HttpPool;

  constructor(options: SignedHttpOptions) {
    this.#options = { maxSockets: 16, connectTimeoutMs: 5_000, socketTimeoutMs: 60_000, ...options };
    this.#signer = new Signer(options.region, options.signingName);
    this.#pool = new HttpPool({
      maxSockets: this.#options.maxSockets,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      socketTimeoutMs: this.#options.socketTimeoutMs,
    });
  }

  destroy(): void {
    this.#pool.destroy();
  }

  /**
   * One call with its retries; resolves with a 2xx response whose body is unread.
   * `read` (the body's consumer) runs inside the try, so that a body cut short
   * is retried like any network failure; without it the body is the caller's.
   */
  async send(call: Call): Promise<HttpResponse>;
  async send<T>(call: Call, read: (response: HttpResponse) => Promise<T>): Promise<T>;
  async send<T>(call: Call, read?: (response: HttpResponse) => Promise<T>): Promise<T | HttpResponse> {
    const maxAttempts = (await this.#options.maxAttempts()) || 3;
    for (let attempt = 1; ; attempt += 1) {
      let failure: unknown;
      let retryable = false;
      let throttled = false;
      try {
        const response = await this.#attempt(call);
        const status = response.statusCode;
        if (status >= 200 && status < 300) return read ? await read(response) : response;
        const reason = call.unsupported?.(response);
        if (reason) {
          response.resume();
          throw new DirectUnsupported(reason);
        }
        const error = call.errorOf(response, await readErrorBody(response), attempt);
        failure = error;
        throttled = THROTTLING_CODES.has(error.Code) || THROTTLING_CODES.has(error.name) || status === 429;
        retryable = throttled || RETRYABLE_STATUS.has(status) || TRANSIENT_CODES.has(error.Code);
      } catch (error) {
        if (error instanceof DirectUnsupported) throw error;
        failure = error;
        // A network failure (or a body cut short): the call can be made again.
        retryable = !call.signal?.aborted && (error as { name?: string }).name !== 'AbortError';
      }
      if (!retryable || attempt >= maxAttempts) {
        this.#options.onError?.(this.#options.service, call.operation, failure);
        throw failure;
      }
      // The SDK's standard retry: full jitter over an exponential ceiling (longer for throttling).
      const ceiling = backoffSeconds(attempt + 1, throttled ? 0.5 : 0.1, 20);
      await sleep(Math.random() * ceiling * 1000, call.signal);
      call.signal?.throwIfAborted();
    }
  }

  async #attempt(call: Call): Promise<HttpResponse> {
    const { endpoint } = call;
    const payloadHash = call.body ? sha256Hex(call.body) : EMPTY_SHA256;
    const headers: Record<string, string> = { host: hostOf(endpoint), ...call.headers };
    if (call.contentSha256Header) headers['x-amz-content-sha256'] = payloadHash;
    if (call.body) headers['content-length'] = String(call.body.length);
    this.#signer.sign({ method: call.method, path: call.path, query: call.query, headers, payloadHash }, await this.#options.credentials());
    const query = call.sentQuery ?? call.query;
    return this.#pool.request({
      target: endpoint,
      method: call.method,
      path: query ? `${call.path}?${query}` : call.path,
      headers,
      body: call.body,
      signal: call.signal,
    });
  }
}

/** The parts of an SDK client's resolved configuration this path reads. */
export interface ResolvedConfig {
  region(): Promise<string>;
  endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path?: string }>;
  isCustomEndpoint?: boolean;
  credentials(): Promise<Credentials>;
  maxAttempts(): Promise<number>;
  useFipsEndpoint(): Promise<boolean>;
  useDualstackEndpoint(): Promise<boolean>;
  endpointProvider(params: Record<string, unknown>): {
    url: URL;
    properties?: { authSchemes?: Array<{ name: string; signingName?: string; signingRegion?: string }> };
  };
  forcePathStyle?: boolean;
  useAccelerateEndpoint?: boolean;
}

/** An SDK client's resolved configuration, or undefined for anything else (a test double with only `send`). */
export function resolvedConfigOf(client: { config?: unknown }): ResolvedConfig | undefined {
  const config = client.config as Partial<ResolvedConfig> | undefined;
  return typeof config?.endpointProvider === 'function' && typeof config.credentials === 'function'
    ? (config as ResolvedConfig)
    : undefined;
}

/** The configured endpoint of a client as the endpoint rules take it, when one was set. */
export async function customEndpoint(config: ResolvedConfig): Promise<string | undefined> {
  if (config.isCustomEndpoint !== true || !config.endpoint) return undefined;
  const endpoint = await config.endpoint();
  return `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path ?? ''}`;
}

/** An endpoint from a URL; undefined when it is not plain http(s) or carries a query. */
export function endpointOf(url: URL): (Endpoint & { basePath: string }) | undefined {
  if (url.search || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  return {
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : undefined,
    basePath: url.pathname.replace(/\/$/, ''),
  };
}
