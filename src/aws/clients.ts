import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { destroyDirectS3, enableDirectS3 } from './s3-direct.ts';
import { destroyDirectSqs, enableDirectSqs } from './sqs-direct.ts';

/** Where and as whom one service is called. */
export interface ServiceConnection {
  region: string;
  endpoint: string | undefined;
  /** Absent: the SDK's default credential chain (env, profile, ECS/EC2 role…). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

/** What the worker's clients are made from (the worker's settings have this shape): one connection per service, and the concurrency their socket pools serve. */
export interface ClientSettings {
  aws: { s3: ServiceConnection; sqs: ServiceConnection; sns: ServiceConnection };
  tuning: { concurrency: number };
}

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  destroy(): void;
}

/**
 * The SDK's default agent allows 50 sockets and stalls when bodies are left
 * unread; every message in work may hold an S3 body socket while it also copies,
 * sends or publishes, so size the pools from the concurrency.
 */
function handler(maxSockets: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    connectionTimeout: 5_000,
    // Idle socket time, not total time: a long-poll receive waits up to 20 s.
    requestTimeout: 60_000,
  });
}

/** The options every client of the worker is built with: its connection, pooled sockets, the SDK's retries. */
export function common(connection: ServiceConnection, maxSockets: number) {
  return {
    region: connection.region,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.credentials ? { credentials: connection.credentials } : {}),
    requestHandler: handler(maxSockets),
    // Throttling and 5xx are retried with jittered backoff inside the SDK first; what
    // still fails leaves the message on the queue for a later retry.
    maxAttempts: 5,
  };
}

/** The direct paths' pools and timeouts, as the SDK handler's (see `handler`). */
function directOptions(maxSockets: number, onError: ErrorListener | undefined) {
  return { maxSockets, connectTimeoutMs: 5_000, socketTimeoutMs: 60_000, ...(onError ? { onError } : {}) };
}

/** `client` whose destroy() also runs `also` (the direct path's pooled sockets close with it). */
function alsoOnDestroy<T extends { destroy(): void }>(client: T, also: () => void): T {
  const destroy = client.destroy.bind(client);
  client.destroy = () => {
    also();
    destroy();
  };
  return client;
}

/** An S3 client as the worker's; one-off commands that need only S3 use it alone. */
export function createS3Client(connection: ServiceConnection, maxSockets = 16, onError?: ErrorListener): S3Client {
  const s3 = new S3Client({
    ...common(connection, maxSockets),
    // Emulators and most S3-compatible stores are addressed by path, not by bucket subdomain.
    forcePathStyle: connection.endpoint !== undefined,
  });
  // GetObject and PutObjectTagging go the direct way (src/aws/s3-direct.ts), with pools sized alike.
  enableDirectS3(s3, directOptions(maxSockets, onError));
  return alsoOnDestroy(s3, () => destroyDirectS3(s3));
}

/** Service and operation of a request, e.g. ("S3", "GetObject"). */
export type ErrorListener = (service: string, operation: string, error: unknown) => void;

/**
 * Reports each request that failed after the SDK's own retries (an initialize
 * step middleware sees the final result), for bucketscan_aws_errors_total.
 */
export function reportErrors(stack: S3Client['middlewareStack'], service: string, listener: ErrorListener): void {
  stack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        listener(service, context.commandName?.replace(/Command$/, '') ?? 'unknown', error);
        throw error;
      }
    },
    { step: 'initialize', name: 'bucketscanErrors', override: true },
  );
}

export function createSqsClient(connection: ServiceConnection, maxSockets = 16, onError?: ErrorListener): SQSClient {
  const sqs = new SQSClient(common(connection, maxSockets));
  // The worker's per-file calls go the direct way (src/aws/sqs-direct.ts), with pools sized alike.
  enableDirectSqs(sqs, directOptions(maxSockets, onError));
  return alsoOnDestroy(sqs, () => destroyDirectSqs(sqs));
}

export function createClients(config: ClientSettings, onError?: ErrorListener): AwsClients {
  const sockets = Math.max(16, config.tuning.concurrency * 4);
  const s3 = createS3Client(config.aws.s3, sockets, onError);
  const sqs = createSqsClient(config.aws.sqs, sockets, onError);
  const sns = new SNSClient(common(config.aws.sns, sockets));
  if (onError) {
    reportErrors(s3.middlewareStack, 'S3', onError);
    reportErrors(sqs.middlewareStack as unknown as S3Client['middlewareStack'], 'SQS', onError);
    reportErrors(sns.middlewareStack as unknown as S3Client['middlewareStack'], 'SNS', onError);
  }
  return {
    s3,
    sqs,
    sns,
    destroy() {
      s3.destroy();
      sqs.destroy();
      sns.destroy();
    },
  };
}
