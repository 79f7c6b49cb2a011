import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, HeadObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { DEFAULT_RESOURCES, startEmulator, type Emulator, type LocalResources } from '../../src/local/emulator.ts';
import { startClamd, type ClamdProcess, type ClamdScanLimits } from '../../src/local/clamd-process.ts';
import type { ClamdAddress } from '../../src/scan/clamd-client.ts';
import { runWorker } from '../../src/worker/service.ts';
import { waitFor } from './wait.ts';

export const REGION = 'us-east-1';

export const RESOURCES: LocalResources = { ...DEFAULT_RESOURCES, region: REGION };

/** Every log line the worker wrote, parsed, for waiting on outcomes it can only report. */
export class LogSink {
  readonly lines: Array<Record<string, unknown>> = [];
  /** The same lines as written, for checks on the text itself (escaping, length). */
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.raw.push(line);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });

  find(predicate: (line: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(predicate);
  }
}

/**
 * A clamd shared by the tests of one file: started once, stopped in `after`.
 * `maxFileSizeMb` sets its StreamMaxLength (the scan limits follow from it);
 * `limits` overrides scan limits, e.g. small ones that hostile files can hit cheaply.
 */
export async function startTestClamd(
  options: { maxFileSizeMb?: number; limits?: Partial<ClamdScanLimits> } = {},
): Promise<{ clamd: ClamdProcess; stop(): Promise<void> }> {
  const workDir = mkdtempSync(join(tmpdir(), 'bucketscan-clamd-'));
  const clamd = await startClamd({
    workDir,
    streamMaxBytes: Math.ceil((options.maxFileSizeMb ?? 100) * 1024 * 1024),
    logger: createLogger('warn', 'clamd'),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  return {
    clamd,
    async stop() {
      await clamd.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export interface StackOptions {
  clamd: ClamdAddress;
  env?: Record<string, string>;
  /** false: uploads raise no events; the test sends hand-built messages. */
  notifications?: boolean;
  /** More for the emulator to create (more sources' buckets and queues, a rescan queue). */
  resources?: Pick<LocalResources, 'moreSources' | 'rescanQueueName'>;
}

export type QueueName = 'validation' | 'notification' | 'inbound' | 'deadLetter';

export interface TestStack {
  emulator: Emulator;
  config: Config;
  s3: S3Client;
  sqs: SQSClient;
  logs: LogSink;
  logger: Logger;
  /** Starts the worker in this process; returns a function that stops it gracefully. */
  startWorker(overrides?: Partial<Config>): () => Promise<void>;
  put(key: string, body: Buffer | string): Promise<void>;
  exists(bucket: string, key: string): Promise<boolean>;
  getText(bucket: string, key: string): Promise<string>;
  /**
   * Receives (and deletes) messages from a queue into a per-queue record until one
   * matches; messages meant for other tests stay in the record for them.
   */
  message(queue: QueueName, predicate: (message: Message) => boolean): Promise<Message>;
  /** Everything received from a queue so far (after a final sweep of it). */
  received(queue: QueueName): Promise<Message[]>;
  stop(): Promise<void>;
}

/** The worker settings that point at a running emulator (clamd and the rest added by the caller). */
export function emulatorEnv(emulator: { topicArn: string; endpoint: string }): Record<string, string> {
  return {
    UNPROCESSED_BUCKET_NAME: RESOURCES.unprocessedBucket,
    QUARANTINE_BUCKET_NAME: RESOURCES.quarantineBucket,
    VIRUS_SCANNING_QUEUE_NAME: RESOURCES.inboundQueueName,
    VALIDATION_QUEUE_NAME: RESOURCES.validationQueueName,
    VIRUS_NOTIFICATION_TOPIC_ARN: emulator.topicArn,
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: emulator.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
}

export async function startTestStack(options: StackOptions): Promise<TestStack> {
  const logs = new LogSink();
  const logger = createLogger('debug', 'bucketscan', logs.stream);
  const emulator = await startEmulator({
    port: 0,
    resources: { ...RESOURCES, ...options.resources },
    logger: createLogger('warn', 'emulator'),
    notifications: options.notifications ?? true,
  });
  const address = options.clamd;
  const env: Record<string, string> = {
    ...emulatorEnv(emulator),
    RECEIVE_WAIT_TIME: '1',
    ...(address.kind === 'tcp' ? { CLAMD_HOST: address.host, CLAMD_PORT: String(address.port) } : { CLAMD_SOCKET: address.path }),
    ...options.env,
  };
  const config = loadConfig(env);
  const clientConfig = {
    region: REGION,
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
  const sqs = new SQSClient(clientConfig);
  const workers: Array<() => Promise<void>> = [];
  const seen: Record<QueueName, Message[]> = { validation: [], notification: [], inbound: [], deadLetter: [] };
  const sweep = async (queue: QueueName, waitSeconds: number) => {
    const response = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulator.queueUrls[queue],
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitSeconds,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    for (const message of response.Messages ?? []) {
      seen[queue].push(message);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: emulator.queueUrls[queue], ReceiptHandle: message.ReceiptHandle }));
    }
  };

  const stack: TestStack = {
    emulator,
    config,
    s3,
    sqs,
    logs,
    logger,
    startWorker(overrides = {}) {
      const controller = new AbortController();
      const done = runWorker({ ...config, ...overrides }, logger, controller.signal);
      const stop = async () => {
        controller.abort();
        await done;
      };
      workers.push(stop);
      return stop;
    },
    async put(key, body) {
      await s3.send(new PutObjectCommand({ Bucket: RESOURCES.unprocessedBucket, Key: key, Body: body }));
    },
    exists: (bucket, key) => objectExists(s3, bucket, key),
    async getText(bucket, key) {
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return response.Body!.transformToString('utf8');
    },
    async message(queue, predicate) {
      return waitFor(`a matching message on the ${queue} queue`, async () => {
        await sweep(queue, 1);
        return seen[queue].find(predicate);
      });
    },
    async received(queue) {
      await sweep(queue, 0);
      return [...seen[queue]];
    },
    async stop() {
      await Promise.all(workers.map((stop) => stop()));
      s3.destroy();
      sqs.destroy();
      await emulator.stop();
    },
  };
  return stack;
}

/** Whether the object exists (HEAD answers 404 for a missing one). */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Waits until the worker has logged a final (or retry) outcome for `key`. */
export function outcomeFor(logs: LogSink, key: string, outcome?: string): Promise<Record<string, unknown>> {
  return waitFor(`a logged outcome for ${key}`, () =>
    logs.find((line) => line['key'] === key && typeof line['outcome'] === 'string' && (!outcome || line['outcome'] === outcome)),
  );
}
