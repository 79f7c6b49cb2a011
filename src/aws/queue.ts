import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  SendMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Batcher } from './batcher.ts';
import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from './send-batch.ts';
import { directSqs } from './sqs-direct.ts';
import { DirectUnsupported } from './signed-http.ts';

export type { Message };

/** A queue as settings name it: by URL, or by name (looked up with GetQueueUrl). */
export type QueueRef = { url: string } | { name: string };

/** SQS's rule for queue names: 1-80 letters, digits, hyphens or underscores, `.fifo` for a FIFO queue. */
export const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}(?:\.fifo)?$/;

/** A queue URL as settings give it (https://sqs.<region>.amazonaws.com/<account>/<name>, or an emulator's). */
export const QUEUE_URL = /^https?:\/\/[^\s/]+\/\S+$/;

/** The queue's name: as given, or the last segment of its URL. */
export function queueNameOf(queue: QueueRef): string {
  if ('name' in queue) return queue.name;
  const last = queue.url.replace(/\/+$/, '').split('/').pop() ?? queue.url;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export async function resolveQueueUrl(sqs: SQSClient, queue: QueueRef, signal?: AbortSignal): Promise<string> {
  if ('url' in queue) return queue.url;
  const response = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }), signal ? { abortSignal: signal } : {});
  if (!response.QueueUrl) throw new Error(`queue "${queue.name}" has no URL`);
  return response.QueueUrl;
}

export interface ReceiveOptions {
  max: number;
  waitSeconds: number;
  visibilityTimeoutSeconds: number;
  signal?: AbortSignal;
}

export async function receiveMessages(sqs: SQSClient, queueUrl: string, options: ReceiveOptions): Promise<Message[]> {
  const input = {
    MaxNumberOfMessages: Math.min(10, Math.max(1, options.max)),
    WaitTimeSeconds: options.waitSeconds,
    VisibilityTimeout: options.visibilityTimeoutSeconds,
    MessageSystemAttributeNames: ['ApproximateReceiveCount' as const],
    MessageAttributeNames: [ORIGIN_ATTRIBUTE],
  };
  // The lean signed path (src/aws/sqs-direct.ts) where the client has it, the SDK's command otherwise.
  const direct = await viaDirect(() => directSqs(sqs)?.receiveMessage(queueUrl, input, options.signal));
  if (direct) return direct;
  const response = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, ...input }),
    options.signal ? { abortSignal: options.signal } : {},
  );
  return response.Messages ?? [];
}

/** The direct call's result; undefined when there is no direct path, or it says the SDK must make the call. */
async function viaDirect<T>(call: () => Promise<T> | undefined): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DirectUnsupported) return undefined;
    throw error;
  }
}

/** Where a message came from: S3 itself, or `bucketscan rescan` (message attribute bucketscan-origin). */
export type Origin = 'event' | 'rescan';

/** Set by `bucketscan rescan` on the events it queues (String "rescan"). */
export const ORIGIN_ATTRIBUTE = 'bucketscan-origin';

/** The message attributes of every event `bucketscan rescan` queues. */
export const RESCAN_ATTRIBUTES = { [ORIGIN_ATTRIBUTE]: { DataType: 'String', StringValue: 'rescan' } } as const satisfies Record<
  string,
  { DataType: 'String'; StringValue: Origin }
>;

export function originOf(message: Message): Origin {
  return message.MessageAttributes?.[ORIGIN_ATTRIBUTE]?.StringValue === 'rescan' ? 'rescan' : 'event';
}

/**
 * The queue's maxReceiveCount from its redrive policy; undefined when it has
 * none or it cannot be read (the worker then cannot say which failure is the last).
 */
export async function maxReceiveCountOf(sqs: SQSClient, queueUrl: string): Promise<number | undefined> {
  const response = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
  const policy = response.Attributes?.RedrivePolicy;
  if (!policy) return undefined;
  try {
    const count = Number((JSON.parse(policy) as { maxReceiveCount?: unknown }).maxReceiveCount);
    return Number.isInteger(count) && count > 0 ? count : undefined;
  } catch {
    return undefined;
  }
}

/** SQS counts receives from 1; a missing or garbled count is taken as the first. */
export function receiveCountOf(message: Message): number {
  return Number(message.Attributes?.ApproximateReceiveCount ?? '1') || 1;
}

export async function deleteMessage(sqs: SQSClient, queueUrl: string, receiptHandle: string): Promise<void> {
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
}

export async function changeVisibility(sqs: SQSClient, queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
  const direct = directSqs(sqs);
  const done = await viaDirect(async () => {
    if (!direct) return undefined;
    await direct.changeMessageVisibility(queueUrl, receiptHandle, seconds);
    return true;
  });
  if (done) return;
  await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
}

export interface OutgoingMessage {
  body: string;
  attributes: Record<string, { DataType: string; StringValue: string }>;
}

type BatchResult = { Successful?: Array<{ Id?: string }>; Failed?: Array<{ Id?: string; Code?: string; Message?: string }> };

function failuresOf(result: BatchResult): Map<number, Error> {
  const failures = new Map<number, Error>();
  for (const failed of result.Failed ?? []) {
    failures.set(Number(failed.Id), new Error(`${failed.Code ?? 'Failed'}: ${failed.Message ?? 'batch entry failed'}`));
  }
  return failures;
}

/** Whether more deletes, or more sends, are on their way (src/aws/batcher.ts `expectMore`), given how many are pending. */
export interface QueueExpectMore {
  deletes(pending: number): boolean;
  sends(pending: number): boolean;
}

/**
 * Deletes from the inbound queue and sends to the outbound queue, ten at a time
 * where traffic allows. A lone call waits at most its linger, and not at all
 * when `expectMore` says no other call is on its way.
 */
export function createQueueBatchers(
  sqs: SQSClient,
  urls: { inbound: string; outbound: string },
  linger: { deleteMs: number; sendMs: number },
  expectMore?: QueueExpectMore,
) {
  const deletes = new Batcher<string>({
    maxEntries: MAX_BATCH_ENTRIES,
    lingerMs: linger.deleteMs,
    ...(expectMore ? { expectMore: (pending: number) => expectMore.deletes(pending) } : {}),
    send: async (handles) => {
      const Entries = handles.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle }));
      const result =
        (await viaDirect(() => directSqs(sqs)?.deleteMessageBatch(urls.inbound, Entries))) ??
        (await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: urls.inbound, Entries })));
      return failuresOf(result);
    },
  });
  const sends = new Batcher<OutgoingMessage>({
    maxEntries: MAX_BATCH_ENTRIES,
    lingerMs: linger.sendMs,
    ...(expectMore ? { expectMore: (pending: number) => expectMore.sends(pending) } : {}),
    maxBytes: MAX_BATCH_BYTES,
    sizeOf: (message) => Buffer.byteLength(message.body) + Buffer.byteLength(JSON.stringify(message.attributes)),
    send: async (messages) => {
      const Entries = messages.map((message, index) => ({
        Id: String(index),
        MessageBody: message.body,
        MessageAttributes: message.attributes,
      }));
      const result =
        (await viaDirect(() => directSqs(sqs)?.sendMessageBatch(urls.outbound, Entries))) ??
        (await sqs.send(new SendMessageBatchCommand({ QueueUrl: urls.outbound, Entries })));
      return failuresOf(result);
    },
  });
  return {
    delete: (receiptHandle: string) => deletes.add(receiptHandle),
    forward: (message: OutgoingMessage) => sends.add(message),
    /** Sends what waits for calls that are no longer on their way. */
    nudge() {
      deletes.nudge();
      sends.nudge();
    },
    async drain() {
      await Promise.all([deletes.drain(), sends.drain()]);
    },
  };
}

export type QueueBatchers = ReturnType<typeof createQueueBatchers>;
