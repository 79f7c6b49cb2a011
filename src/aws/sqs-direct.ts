/**
 * The worker's four per-file SQS calls (ReceiveMessage, DeleteMessageBatch,
 * SendMessageBatch, ChangeMessageVisibility) by the lean signed path
 * (src/aws/signed-http.ts), in SQS's JSON protocol as the SDK speaks it
 * (AWS JSON 1.0, query-compatible errors). The endpoint is resolved once per
 * queue URL, by the SDK's endpoint rules and its queue-URL rule (without a
 * configured endpoint, a call goes to its queue URL's host).
 *
 * What it keeps from the SDK besides the core's retries, signing and errors:
 * the MD5 checks of message bodies (a received body against its MD5OfBody, a
 * sent one against the MD5OfMessageBody SQS computed), with the SDK's error
 * messages, natively (OpenSSL).
 *
 * A client that is not the SDK's (a test double with only `send`) gets
 * `DirectUnsupported`, and the caller sends the SDK command.
 */
import { hash } from 'node:crypto';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { HttpResponse } from './http1.ts';
import {
  AwsServiceError,
  customEndpoint,
  DirectUnsupported,
  endpointOf,
  resolvedConfigOf,
  SignedHttp,
  type Endpoint,
  type SignedHttpOptions,
} from './signed-http.ts';

export type DirectSqsOptions = Pick<SignedHttpOptions, 'maxSockets' | 'connectTimeoutMs' | 'socketTimeoutMs' | 'onError'>;

export interface BatchResult {
  Successful?: Array<{ Id?: string; MessageId?: string; MD5OfMessageBody?: string }>;
  Failed?: Array<{ Id?: string; Code?: string; Message?: string; SenderFault?: boolean }>;
}

export interface ReceiveInput {
  MaxNumberOfMessages: number;
  WaitTimeSeconds: number;
  VisibilityTimeout: number;
  MessageSystemAttributeNames: string[];
  MessageAttributeNames: string[];
}

/** Ten messages of 256 KiB and their attributes fit well within this. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

const md5Hex = (text: string) => hash('md5', text, 'hex');

/** SQS's JSON error: `__type` names it, x-amzn-query-error gives the query-protocol code the SDK puts in Code. */
function sqsError(response: HttpResponse, body: string, attempts: number): AwsServiceError {
  const status = response.statusCode;
  let document: { __type?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null) document = parsed as typeof document;
  } catch {
    // Not JSON (a proxy's page): named by the status below.
  }
  const type = typeof document.__type === 'string' ? document.__type : response.headers['x-amzn-errortype'];
  const name = type?.split('#').pop()?.split(':')[0] || (status >= 500 ? 'InternalError' : `${status}`);
  const compat = response.headers['x-amzn-query-error']?.split(';')[0];
  const message = typeof document.message === 'string' ? document.message : typeof document.Message === 'string' ? document.Message : '';
  return new AwsServiceError({
    name,
    code: compat || name,
    message: message || 'UnknownError',
    status,
    requestId: response.headers['x-amzn-requestid'],
    attempts,
  });
}

export class DirectSqs {
  readonly #client: SQSClient;
  readonly #options: DirectSqsOptions;
  readonly #endpoints = new Map<string, Promise<Endpoint | undefined>>();
  #http: Promise<SignedHttp | undefined> | undefined;
  #destroyed = false;

  constructor(client: SQSClient, options: DirectSqsOptions = {}) {
    this.#client = client;
    this.#options = options;
  }

  destroy(): void {
    this.#destroyed = true;
    void this.#http?.then((http) => http?.destroy());
  }

  async receiveMessage(queueUrl: string, input: ReceiveInput, signal?: AbortSignal): Promise<Message[]> {
    const output = (await this.#call(queueUrl, 'ReceiveMessage', { QueueUrl: queueUrl, ...input }, signal)) as {
      Messages?: Message[];
    };
    const messages = output.Messages ?? [];
    const mismatched = messages.filter((message) => message.MD5OfBody !== md5Hex(message.Body ?? '')).map((m) => m.MessageId);
    if (mismatched.length > 0) throw new Error(`Invalid MD5 checksum on messages: ${mismatched.join(', ')}`);
    return messages;
  }

  async deleteMessageBatch(queueUrl: string, entries: Array<{ Id: string; ReceiptHandle: string }>): Promise<BatchResult> {
    return (await this.#call(queueUrl, 'DeleteMessageBatch', { QueueUrl: queueUrl, Entries: entries })) as BatchResult;
  }

  async sendMessageBatch(
    queueUrl: string,
    entries: Array<{ Id: string; MessageBody: string; MessageAttributes?: Record<string, { DataType: string; StringValue: string }> }>,
  ): Promise<BatchResult> {
    const output = (await this.#call(queueUrl, 'SendMessageBatch', { QueueUrl: queueUrl, Entries: entries })) as BatchResult;
    const sent = new Map((output.Successful ?? []).map((entry) => [entry.Id, entry]));
    const mismatched: Array<string | undefined> = [];
    for (const entry of entries) {
      const result = sent.get(entry.Id);
      if (result && result.MD5OfMessageBody !== md5Hex(entry.MessageBody)) mismatched.push(result.MessageId);
    }
    if (mismatched.length > 0) throw new Error(`Invalid MD5 checksum on messages: ${mismatched.join(', ')}`);
    return output;
  }

  async changeMessageVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
    await this.#call(queueUrl, 'ChangeMessageVisibility', { QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds });
  }

  async #call(queueUrl: string, operation: string, input: object, signal?: AbortSignal): Promise<unknown> {
    const http = await this.#path();
    const endpoint = http && (await this.#endpoint(queueUrl));
    if (!http || !endpoint) throw new DirectUnsupported(`${operation} needs the SDK's SQS client`);
    const body = Buffer.from(JSON.stringify(input));
    return http.send(
      {
        operation,
        endpoint,
        method: 'POST',
        path: '/',
        query: '',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `AmazonSQS.${operation}`,
          'x-amzn-query-mode': 'true',
        },
        body,
        signal,
        errorOf: sqsError,
      },
      async (response) => {
        const text = await response.text(MAX_RESPONSE_BYTES);
        return text === '' ? {} : (JSON.parse(text) as unknown);
      },
    );
  }

  /** The signed path, made once from the client's configuration; undefined for a client that is not the SDK's. */
  #path(): Promise<SignedHttp | undefined> {
    this.#http ??= (async () => {
      const config = resolvedConfigOf(this.#client);
      if (!config) return undefined;
      const http = new SignedHttp({
        ...this.#options,
        service: 'SQS',
        region: await config.region(),
        signingName: 'sqs',
        credentials: () => config.credentials(),
        maxAttempts: () => config.maxAttempts(),
      });
      if (this.#destroyed) http.destroy();
      return http;
    })();
    return this.#http;
  }

  #endpoint(queueUrl: string): Promise<Endpoint | undefined> {
    let endpoint = this.#endpoints.get(queueUrl);
    if (!endpoint) {
      endpoint = this.#resolve(queueUrl);
      this.#endpoints.set(queueUrl, endpoint);
      endpoint.catch(() => this.#endpoints.delete(queueUrl));
    }
    return endpoint;
  }

  async #resolve(queueUrl: string): Promise<Endpoint | undefined> {
    const config = resolvedConfigOf(this.#client);
    if (!config) return undefined;
    const custom = await customEndpoint(config);
    const resolved = config.endpointProvider({
      Region: await config.region(),
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ...(custom ? { Endpoint: custom } : {}),
    });
    let url = new URL(String(resolved.url));
    // The SDK's queue-URL rule: with no endpoint configured, the queue URL's host is the endpoint.
    if (!custom) {
      const origin = new URL(new URL(queueUrl).origin);
      if (origin.origin !== url.origin) url = origin;
    }
    const endpoint = endpointOf(url);
    // SQS's JSON calls go to "/": an endpoint with a path of its own is the SDK's to handle.
    return endpoint && endpoint.basePath === '' ? endpoint : undefined;
  }
}

const direct = new WeakMap<SQSClient, DirectSqs>();

/** Makes the direct path of `client` with these options (src/aws/clients.ts does, for the worker's client). */
export function enableDirectSqs(client: SQSClient, options: DirectSqsOptions): DirectSqs {
  direct.get(client)?.destroy();
  const made = new DirectSqs(client, options);
  direct.set(client, made);
  return made;
}

/** The direct path of `client`; undefined when it was not enabled (the SDK's command is sent). */
export function directSqs(client: SQSClient): DirectSqs | undefined {
  return direct.get(client);
}

/** Closes the direct path's pooled sockets with the client. */
export function destroyDirectSqs(client: SQSClient): void {
  direct.get(client)?.destroy();
  direct.delete(client);
}
