/**
 * The emulator-bound ceiling for small files: a bare client that makes the AWS
 * calls the worker makes for a clean file (receive, GET the object and read it
 * all, forward, delete) at the same concurrency, and does nothing else: no
 * clamd, no event validation, no logging. No worker can beat it on the same
 * emulator, so worker/ceiling says how much of the possible rate the worker gets.
 *
 * It follows the worker's calling pattern as measured: one SendMessage and one
 * DeleteMessage per file, or the batch calls when the worker's own counts show it
 * uses SendMessageBatch/DeleteMessageBatch.
 */
import { Agent as HttpAgent } from 'node:http';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface CeilingOptions {
  endpoint: string;
  region: string;
  inboundUrl: string;
  validationUrl: string;
  concurrency: number;
  /** Stop after this many messages. */
  files: number;
  batchSends: boolean;
  batchDeletes: boolean;
}

/** Collects entries and sends them in batches of up to 10, at the latest on the next turn of the event loop. */
class Batcher<T> {
  readonly #flush: (entries: T[]) => Promise<void>;
  #entries: Array<{ entry: T; done(): void; fail(error: unknown): void }> = [];
  #scheduled = false;

  constructor(flush: (entries: T[]) => Promise<void>) {
    this.#flush = flush;
  }

  add(entry: T): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.#entries.push({ entry, done, fail });
      if (this.#entries.length >= 10) this.#send();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#send();
        });
      }
    });
  }

  #send(): void {
    const batch = this.#entries.splice(0, 10);
    if (batch.length === 0) return;
    this.#flush(batch.map((item) => item.entry)).then(
      () => {
        for (const item of batch) item.done();
      },
      (error: unknown) => {
        for (const item of batch) item.fail(error);
      },
    );
  }
}

function targetOf(message: Message): { bucket: string; key: string; eTag: string | undefined; record: unknown } {
  const record = (
    JSON.parse(message.Body ?? '{}') as { Records: Array<{ s3: { bucket: { name: string }; object: { key: string; eTag?: string } } }> }
  ).Records[0];
  if (!record) throw new Error('message without a record');
  return {
    bucket: record.s3.bucket.name,
    key: decodeURIComponent(record.s3.object.key.replace(/\+/g, ' ')),
    eTag: record.s3.object.eTag,
    record,
  };
}

export async function runCeiling(options: CeilingOptions): Promise<void> {
  const sockets = Math.max(16, options.concurrency * 4);
  const common = {
    region: options.region,
    endpoint: options.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }) }),
  };
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  const sqs = new SQSClient(common);
  const attributes = (now: Date) => ({
    status: { DataType: 'String', StringValue: 'CLEAN' },
    scannedAt: { DataType: 'String', StringValue: now.toISOString() },
    engine: { DataType: 'String', StringValue: 'ClamAV 1.4.6/27431/Thu Oct 30 09:22:40 2025' },
  });
  let sequence = 0;
  const sends = new Batcher<{ body: string; at: Date }>(async (entries) => {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: options.validationUrl,
        Entries: entries.map((entry) => ({ Id: String(sequence++), MessageBody: entry.body, MessageAttributes: attributes(entry.at) })),
      }),
    );
  });
  const deletes = new Batcher<string>(async (handles) => {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.inboundUrl,
        Entries: handles.map((ReceiptHandle) => ({ Id: String(sequence++), ReceiptHandle })),
      }),
    );
  });

  const handle = async (message: Message) => {
    const target = targetOf(message);
    const response = await s3.send(
      new GetObjectCommand({ Bucket: target.bucket, Key: target.key, ...(target.eTag ? { IfMatch: `"${target.eTag}"` } : {}) }),
    );
    for await (const _chunk of response.Body as AsyncIterable<Uint8Array>) {
      // Read it all, as a scan would.
    }
    const body = JSON.stringify({ Records: [target.record] });
    if (options.batchSends) await sends.add({ body, at: new Date() });
    else
      await sqs.send(
        new SendMessageCommand({ QueueUrl: options.validationUrl, MessageBody: body, MessageAttributes: attributes(new Date()) }),
      );
    if (options.batchDeletes) await deletes.add(message.ReceiptHandle!);
    else await sqs.send(new DeleteMessageCommand({ QueueUrl: options.inboundUrl, ReceiptHandle: message.ReceiptHandle }));
  };

  let inFlight = 0;
  let finished = 0;
  let received = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  try {
    while (received < options.files) {
      if (failure) throw failure;
      if (inFlight >= options.concurrency) {
        await new Promise<void>((resolveWake) => (wake = resolveWake));
        continue;
      }
      const response = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.inboundUrl,
          MaxNumberOfMessages: Math.min(10, options.concurrency - inFlight),
          WaitTimeSeconds: 1,
          VisibilityTimeout: 120,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      for (const message of response.Messages ?? []) {
        received += 1;
        inFlight += 1;
        handle(message)
          .catch((error: unknown) => {
            failure ??= error;
          })
          .finally(() => {
            inFlight -= 1;
            finished += 1;
            wake?.();
            wake = undefined;
          });
      }
    }
    while (finished < received) await new Promise<void>((resolveWake) => (wake = resolveWake));
    if (failure) throw failure;
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}
