/**
 * An HTTP proxy in front of the S3/SQS/SNS emulator (or moto), shared by the
 * chaos suite and the benchmark: it counts every request by operation
 * (`counts`, what the benchmark's requests-per-file figures are made of), can
 * delay every request by a fixed amount (the benchmark's latency mode), and can
 * fail some requests the ways AWS and networks do (the chaos suite).
 *
 * Two families of faults, counted apart, because they test different things:
 *
 * - not applied: the request never reaches the emulator (HTTP 500/503, throttling,
 *   a connection reset while the request is being sent, an outage window). A
 *   retry must redo the step.
 * - applied: the emulator carries the request out, then the client is told it
 *   failed (the connection reset before the response, a 500 in place of the real
 *   answer, a GetObject body cut off part-way). A retry redoes a step that already
 *   happened, which is where duplicates and half-finished work come from.
 *
 * Slow responses (a delay before forwarding or before answering) are counted
 * separately: they fail nothing by themselves.
 *
 * Error bodies are those of the real services, in the protocol each SDK client
 * speaks, so the SDK classifies them as it would in AWS: S3 as REST-XML (`SlowDown`
 * on 503), SQS as AWS JSON 1.0 with the query-compatible `x-amzn-query-error`
 * header (`RequestThrottled`), SNS as query-protocol XML (`Throttling`).
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Random } from './random.ts';

export type Service = 's3' | 'sqs' | 'sns' | 'other';

export const NOT_APPLIED_FAULTS = ['http-500', 'http-503', 'throttle', 'reset-request', 'partial-batch', 'outage'] as const;
export const APPLIED_FAULTS = ['reset-response', 'error-after', 'truncate-reset', 'truncate-close'] as const;
export type NotAppliedFault = (typeof NOT_APPLIED_FAULTS)[number];
export type AppliedFault = (typeof APPLIED_FAULTS)[number];
export type FaultKind = NotAppliedFault | AppliedFault;

export interface FaultPolicy {
  /** Probability that one request gets a fault (outage windows come on top). */
  rate: number;
  /** Probability that one request is slowed down. */
  delayRate: number;
  /** Longest injected delay. Keep well below the worker's 60 s socket timeout. */
  maxDelayMs: number;
  /** Relative weight of each fault kind; kinds that do not fit the request are skipped. */
  weights: Record<Exclude<FaultKind, 'outage'>, number>;
}

export const DEFAULT_POLICY: FaultPolicy = {
  rate: 0.06,
  delayRate: 0.05,
  maxDelayMs: 2_500,
  weights: {
    'http-500': 2,
    'http-503': 2,
    throttle: 3,
    'reset-request': 2,
    // Only SQS batch calls can fail in part; weighed so they meet it often.
    'partial-batch': 6,
    'reset-response': 3,
    'error-after': 2,
    // Only GetObject can be cut off mid-body; these weigh more so GetObject meets them often.
    'truncate-reset': 4,
    'truncate-close': 4,
  },
};

export interface OperationStats {
  requests: number;
  delayed: number;
  faults: Partial<Record<FaultKind, number>>;
}

export interface ProxyStats {
  requests: number;
  delayed: number;
  delayMsTotal: number;
  faults: Record<FaultKind, number>;
  /** Keyed "s3:GetObject", "sqs:ReceiveMessage", "sns:Publish"… */
  byOperation: Record<string, OperationStats>;
  outages: Array<{ service: Service; style: 'unavailable' | 'throttle'; startedAt: number; durationMs: number }>;
}

/** AWS requests as they reached the proxy, per "<Service>.<Operation>" (e.g. "SQS.ReceiveMessage"). */
export interface RequestCounts {
  /** Every request, retries included. */
  attempts: Record<string, number>;
  /** Requests that failed (an error status, an injected fault, a dropped connection); also in `attempts`. */
  failed: Record<string, number>;
  /** ReceiveMessage requests that brought no message (idle long polls, failures); also in `attempts`. */
  emptyReceives: number;
  /** Messages brought by all ReceiveMessage requests. */
  receivedMessages: number;
}

const SERVICE_NAMES: Record<Service, string> = { s3: 'S3', sqs: 'SQS', sns: 'SNS', other: 'Other' };

function emptyCounts(): RequestCounts {
  return { attempts: {}, failed: {}, emptyReceives: 0, receivedMessages: 0 };
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  stats: ProxyStats;
  /** Requests counted since the start or the last `resetCounts()`. */
  readonly counts: RequestCounts;
  resetCounts(): void;
  /** Turns fault injection on or off (off: a transparent proxy). */
  setEnabled(enabled: boolean): void;
  /** Every request to `service` fails (not applied) for the next `durationMs`. */
  startOutage(service: Service, durationMs: number, style: 'unavailable' | 'throttle'): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The emulator, e.g. http://127.0.0.1:4566 */
  target: string;
  random: Random;
  policy?: FaultPolicy;
  /** Told of every fault as it is injected (for a fault log). */
  onFault?: (event: { kind: FaultKind; service: Service; operation: string; method: string; url: string; detail?: string }) => void;
  /** Forces one fault kind on every request of the matching operation (for the proxy's own tests). */
  force?: { operation: string; kind: FaultKind };
  /**
   * A fixed delay for every request, on or off with the faults alike (the
   * benchmark's latency mode, bench/network.ts): half before the request is
   * forwarded, half before its answer, as a network's round trip is spent.
   */
  latencyMs?: number;
  /** Listen with TLS (https) with this key and certificate (PEM): the benchmark's TLS figures. */
  tls?: { key: Buffer; cert: Buffer };
  /**
   * Operations ("sqs:DeleteMessageBatch") forwarded one at a time, each once the
   * one before has its answer. moto_server handles requests in threads, and its
   * SQS deletes rewrite a queue's message list from a copy: two at once can put
   * back a message the other deleted, which then comes back after its visibility
   * timeout. Real SQS does not; the benchmark must not count moto's race.
   */
  serialize?: string[];
  /** Told of every request once it has been read and classified (the benchmark times start-up by it). */
  onRequest?: (event: { service: Service; operation: string; at: number }) => void;
}

interface Classified {
  service: Service;
  operation: string;
}

export function classify(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Classified {
  const auth = String(headers['authorization'] ?? '');
  const scope = /\/([a-z0-9-]+)\/aws4_request/.exec(auth)?.[1];
  const target = headers['x-amz-target'];
  if (scope === 'sqs' || (typeof target === 'string' && target.startsWith('AmazonSQS.'))) {
    return { service: 'sqs', operation: typeof target === 'string' ? target.replace('AmazonSQS.', '') : 'Unknown' };
  }
  if (scope === 'sns') {
    const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('latin1'))?.[1];
    return { service: 'sns', operation: action ?? 'Unknown' };
  }
  if (scope === 's3') return { service: 's3', operation: s3Operation(method, url, headers) };
  return { service: 'other', operation: `${method}` };
}

function s3Operation(method: string, url: string, headers: IncomingHttpHeaders): string {
  const parsed = new URL(url, 'http://proxy');
  const query = parsed.searchParams;
  const segments = parsed.pathname.split('/').filter(Boolean);
  const hasKey = segments.length > 1;
  if (query.has('tagging')) {
    const verb = method === 'GET' ? 'Get' : method === 'PUT' ? 'Put' : method === 'DELETE' ? 'Delete' : method;
    return `${verb}${hasKey ? 'Object' : 'Bucket'}Tagging`;
  }
  switch (method) {
    case 'GET':
      return hasKey ? 'GetObject' : 'ListObjects';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      if (query.has('uploadId')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
      return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
    case 'DELETE':
      return query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      if (query.has('delete')) return 'DeleteObjects';
      return 'PostObject';
    default:
      return method;
  }
}

interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

let requestCounter = 0;

/** The error a service sends for a fault, in that service's protocol. */
export function errorResponse(service: Service, kind: 'http-500' | 'http-503' | 'throttle', method: string): ErrorResponse {
  const requestId = `chaos-${++requestCounter}`;
  const [status, s3Code, sqsCode, snsCode] =
    kind === 'http-500'
      ? [500, 'InternalError', 'InternalError', 'InternalFailure']
      : kind === 'http-503'
        ? [503, 'ServiceUnavailable', 'ServiceUnavailable', 'ServiceUnavailable']
        : [503, 'SlowDown', 'RequestThrottled', 'Throttling'];
  const message =
    kind === 'throttle'
      ? 'Please reduce your request rate.'
      : kind === 'http-503'
        ? 'Service is unavailable. Please try again.'
        : 'We encountered an internal error. Please try again.';
  switch (service) {
    case 'sqs': {
      // Throttling is a client-side (400) error in SQS; the SDK knows RequestThrottled as throttling.
      const sqsStatus = kind === 'throttle' ? 400 : status;
      return {
        status: sqsStatus,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-query-error': `${sqsCode};${sqsStatus < 500 ? 'Sender' : 'Receiver'}`,
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ __type: `com.amazonaws.sqs#${sqsCode}`, message }),
      };
    }
    case 'sns': {
      const snsStatus = kind === 'throttle' ? 400 : status;
      return {
        status: snsStatus,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body:
          '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">' +
          `<Error><Type>${snsStatus < 500 ? 'Sender' : 'Receiver'}</Type><Code>${snsCode}</Code><Message>${message}</Message></Error>` +
          `<RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    }
    default:
      return {
        status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        // HEAD responses carry no body; the SDK goes by the status then.
        body:
          method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${s3Code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId><HostId>chaos</HostId></Error>`,
      };
  }
}

function emptyStats(): ProxyStats {
  const faults = Object.fromEntries([...NOT_APPLIED_FAULTS, ...APPLIED_FAULTS].map((kind) => [kind, 0])) as Record<FaultKind, number>;
  return { requests: 0, delayed: 0, delayMsTotal: 0, faults, byOperation: {}, outages: [] };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const policy = options.policy ?? DEFAULT_POLICY;
  const { random } = options;
  const stats = emptyStats();
  let counts = emptyCounts();
  const countRequest = (op: Classified, failed: boolean, messages?: number) => {
    const name = `${SERVICE_NAMES[op.service]}.${op.operation}`;
    counts.attempts[name] = (counts.attempts[name] ?? 0) + 1;
    if (failed) counts.failed[name] = (counts.failed[name] ?? 0) + 1;
    if (op.service === 'sqs' && op.operation === 'ReceiveMessage') {
      counts.receivedMessages += messages ?? 0;
      if (!messages) counts.emptyReceives += 1;
    }
  };
  let enabled = true;
  const outageUntil: Partial<Record<Service, { until: number; style: 'unavailable' | 'throttle' }>> = {};
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();
  const latencyOut = Math.floor((options.latencyMs ?? 0) / 2);
  const latencyBack = (options.latencyMs ?? 0) - latencyOut;

  const count = (key: string, kind: FaultKind | 'delayed') => {
    const entry = (stats.byOperation[key] ??= { requests: 0, delayed: 0, faults: {} });
    if (kind === 'delayed') {
      entry.delayed += 1;
    } else {
      entry.faults[kind] = (entry.faults[kind] ?? 0) + 1;
      stats.faults[kind] += 1;
    }
  };

  const chooseFault = (op: Classified): FaultKind | undefined => {
    const outage = outageUntil[op.service];
    if (outage && outage.until > Date.now()) return 'outage';
    if (options.force) return options.force.operation === op.operation ? options.force.kind : undefined;
    // Resets mid-request are decided earlier, before the body is read (see handle).
    const fitting = { ...policy.weights, 'reset-request': 0 };
    if (!enabled || !random.chance(policy.rate * (totalWeight({ ...policy, weights: fitting }) / totalWeight(policy)))) return undefined;
    if (op.operation !== 'GetObject') {
      fitting['truncate-reset'] = 0;
      fitting['truncate-close'] = 0;
    }
    if (!(op.service === 'sqs' && op.operation.endsWith('Batch'))) fitting['partial-batch'] = 0;
    return random.weighted(fitting);
  };

  const sendError = (res: ServerResponse, error: ErrorResponse) => {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(error.status, { ...error.headers, 'content-length': String(Buffer.byteLength(error.body)) });
    res.end(error.body);
  };

  const serialized = new Set(options.serialize ?? []);
  let serialTail: Promise<void> = Promise.resolve();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests += 1;
    // Decide before reading the body for a reset mid-request; other faults need the operation.
    const early = classify(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.alloc(0));
    const preReset = options.force
      ? options.force.kind === 'reset-request' && options.force.operation === early.operation
      : enabled && random.chance(policy.rate * (policy.weights['reset-request'] / totalWeight(policy)));
    if (preReset) {
      stats.faults['reset-request'] += 1;
      const entry = (stats.byOperation[`${early.service}:${early.operation}`] ??= { requests: 0, delayed: 0, faults: {} });
      entry.requests += 1;
      entry.faults['reset-request'] = (entry.faults['reset-request'] ?? 0) + 1;
      countRequest(early, true);
      options.onFault?.({
        kind: 'reset-request',
        service: early.service,
        operation: early.operation,
        method: req.method ?? '',
        url: req.url ?? '',
      });
      // Cut the connection while the request is still arriving (or right after its head).
      req.once('data', () => req.socket.destroy());
      setImmediate(() => req.socket.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const op = classify(req.method ?? 'GET', req.url ?? '/', req.headers, body);
    const key = `${op.service}:${op.operation}`;
    (stats.byOperation[key] ??= { requests: 0, delayed: 0, faults: {} }).requests += 1;
    options.onRequest?.({ service: op.service, operation: op.operation, at: performance.now() });
    if (latencyOut > 0) await sleep(latencyOut);

    const fault = chooseFault(op);
    if (fault) {
      count(key, fault);
      options.onFault?.({
        kind: fault,
        service: op.service,
        operation: op.operation,
        method: req.method ?? '',
        url: req.url ?? '',
        detail: describeBody(op, body),
      });
    }

    const delayMs = enabled && !options.force && random.chance(policy.delayRate) ? random.int(100, policy.maxDelayMs) : 0;
    const delayBefore = random.chance(0.5);
    if (delayMs > 0) {
      count(key, 'delayed');
      stats.delayed += 1;
      stats.delayMsTotal += delayMs;
      if (delayBefore) await sleep(delayMs);
    }

    // Every fault fails the request as its client sees it; a pass-through is counted with its answer below.
    if (fault) countRequest(op, true);

    if (fault === 'outage') {
      const style = outageUntil[op.service]?.style === 'throttle' ? 'throttle' : 'http-503';
      sendError(res, errorResponse(op.service, style, req.method ?? 'GET'));
      return;
    }
    if (fault === 'http-500' || fault === 'http-503' || fault === 'throttle') {
      sendError(res, errorResponse(op.service, fault, req.method ?? 'GET'));
      return;
    }

    // A batch call that fails in part: some entries are refused (and never reach the
    // emulator), the others go through; the answer lists both, as SQS does.
    let forwardBody = body;
    let refused: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = [];
    if (fault === 'partial-batch') {
      const request = JSON.parse(body.toString('utf8')) as { Entries?: Array<{ Id: string }> };
      const entries = request.Entries ?? [];
      const failing = new Set(entries.filter(() => random.chance(0.5)).map((entry) => entry.Id));
      if (failing.size === 0 && entries.length > 0) failing.add(entries[random.int(0, entries.length - 1)]!.Id);
      refused = [...failing].map((Id) => ({
        Id,
        SenderFault: false,
        Code: 'InternalError',
        Message: 'We encountered an internal error. Please try again.',
      }));
      const kept = entries.filter((entry) => !failing.has(entry.Id));
      if (kept.length === 0) {
        const answer = JSON.stringify({ Successful: [], Failed: refused });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': String(Buffer.byteLength(answer)) });
        res.end(answer);
        return;
      }
      forwardBody = Buffer.from(JSON.stringify({ ...request, Entries: kept }));
    }

    // Forward to the emulator.
    const headers = forwardBody === body ? req.headers : { ...req.headers, 'content-length': String(forwardBody.length) };
    const previous = serialized.has(key) ? serialTail : undefined;
    let release: (() => void) | undefined;
    if (previous) {
      serialTail = new Promise<void>((resolve) => {
        release = resolve;
      });
      await previous;
    }
    const upstream = await new Promise<IncomingMessage | Error>((resolve) => {
      const forward = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, resolve);
      forward.on('error', resolve);
      forward.end(forwardBody);
    });
    release?.();
    if (upstream instanceof Error) {
      if (!fault) countRequest(op, true);
      // The emulator itself failed: report it as a 502, which is what a load balancer would say.
      sendError(res, { status: 502, headers: { 'content-type': 'text/plain' }, body: `proxy: ${upstream.message}` });
      return;
    }
    upstream.on('error', () => res.destroy());
    if (latencyBack > 0) await sleep(latencyBack);
    if (delayMs > 0 && !delayBefore) await sleep(delayMs);

    if (fault === 'reset-response') {
      upstream.resume();
      upstream.once('end', () => res.socket?.destroy());
      return;
    }
    if (fault === 'partial-batch') {
      const parts: Buffer[] = [];
      for await (const chunk of upstream) parts.push(chunk as Buffer);
      let answer: string;
      try {
        const parsed = JSON.parse(Buffer.concat(parts).toString('utf8')) as { Successful?: unknown[]; Failed?: unknown[] };
        answer = JSON.stringify({ ...parsed, Failed: [...(parsed.Failed ?? []), ...refused] });
      } catch {
        answer = Buffer.concat(parts).toString('utf8');
      }
      if (res.destroyed) return;
      res.writeHead(upstream.statusCode ?? 200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(Buffer.byteLength(answer)),
      });
      res.end(answer);
      return;
    }
    if (fault === 'error-after') {
      upstream.resume();
      upstream.once('end', () => sendError(res, errorResponse(op.service, 'http-500', req.method ?? 'GET')));
      return;
    }

    const truncating = (fault === 'truncate-reset' || fault === 'truncate-close') && upstream.statusCode === 200;
    if ((fault === 'truncate-reset' || fault === 'truncate-close') && !truncating) {
      // Not a body to cut (a 304/404/412): still an applied fault, as a dropped response.
      upstream.resume();
      upstream.once('end', () => res.socket?.destroy());
      return;
    }
    const status = upstream.statusCode ?? 502;
    // Hop-by-hop: a server that closes after each answer (moto) must not make the proxy close on its client.
    const answerHeaders: string[] = [];
    for (let index = 0; index + 1 < upstream.rawHeaders.length; index += 2) {
      const name = upstream.rawHeaders[index]!;
      if (!/^(connection|keep-alive)$/i.test(name)) answerHeaders.push(name, upstream.rawHeaders[index + 1]!);
    }
    if (!fault && op.service === 'sqs' && op.operation === 'ReceiveMessage') {
      // The answer is read to count the messages it brings (JSON, a few KiB).
      const parts: Buffer[] = [];
      for await (const chunk of upstream) parts.push(chunk as Buffer);
      const answer = Buffer.concat(parts);
      let messages = 0;
      try {
        messages = (JSON.parse(answer.toString('utf8')) as { Messages?: unknown[] }).Messages?.length ?? 0;
      } catch {
        // not JSON: no messages
      }
      countRequest(op, status >= 400, messages);
      if (res.destroyed) return;
      res.writeHead(status, answerHeaders);
      res.end(answer);
      return;
    }
    if (!fault) countRequest(op, status >= 400);
    res.writeHead(status, answerHeaders);
    if (!truncating) {
      upstream.pipe(res);
      return;
    }
    const length = Number(upstream.headers['content-length'] ?? '0');
    if (!(length > 0)) {
      // Nothing to cut short: the headers go, then the connection.
      res.flushHeaders();
      upstream.resume();
      setImmediate(() => res.socket?.destroy());
      return;
    }
    const cutAt = length > 1 ? random.int(0, length - 1) : 0;
    let sent = 0;
    let cut = false;
    upstream.on('data', (chunk: Buffer) => {
      if (cut) return;
      const room = cutAt - sent;
      if (chunk.length >= room) {
        cut = true;
        const socket = res.socket;
        if (room > 0) res.write(chunk.subarray(0, room));
        upstream.destroy();
        // A reset (RST-like destroy), or a clean close (FIN) that leaves the body short of its Content-Length.
        if (fault === 'truncate-reset') setImmediate(() => socket?.destroy());
        else setImmediate(() => socket?.end());
        return;
      }
      sent += chunk.length;
      res.write(chunk);
    });
    upstream.on('end', () => {
      if (!cut) res.end();
    });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    handle(req, res).catch(() => {
      res.destroy();
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, onRequest) : createServer(onRequest);
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    stats,
    get counts() {
      return counts;
    },
    resetCounts() {
      counts = emptyCounts();
    },
    setEnabled(value) {
      enabled = value;
    },
    startOutage(service, durationMs, style) {
      outageUntil[service] = { until: Date.now() + durationMs, style };
      stats.outages.push({ service, style, startedAt: Date.now(), durationMs });
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** The start of an SQS/SNS request body (it names the queue, the receipt or the key), for the fault log. */
function describeBody(op: Classified, body: Buffer): string | undefined {
  if (op.service === 's3' || body.length === 0) return undefined;
  return body.toString('utf8').slice(0, 400);
}

function totalWeight(policy: FaultPolicy): number {
  return Object.values(policy.weights).reduce((sum, weight) => sum + weight, 0);
}
