import { SendMessageBatchCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import { sleep as realSleep } from '../shared/time.ts';

export interface BatchMessage {
  body: string;
  attributes?: Record<string, MessageAttributeValue>;
}

export interface BatchFailure {
  /** Index into the messages given. */
  index: number;
  code: string;
  message: string;
}

export interface BatchOutcome {
  /** Index into the messages given → the MessageId SQS assigned. */
  sent: Map<number, string>;
  failed: BatchFailure[];
}

/** SQS takes at most 10 entries in one batch call (SendMessageBatch, DeleteMessageBatch). */
export const MAX_BATCH_ENTRIES = 10;
/** SQS caps a whole SendMessageBatch at 256 KiB; this leaves room for attributes and framing. */
export const MAX_BATCH_BYTES = 240 * 1024;

export function messageBytes(message: BatchMessage): number {
  let bytes = Buffer.byteLength(message.body);
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
    bytes += Buffer.byteLength(value.StringValue ?? '') + (value.BinaryValue?.byteLength ?? 0);
  }
  return bytes;
}

/** Splits messages into SendMessageBatch-sized groups, in order; an oversized message goes alone. */
export function chunkForBatches<T extends BatchMessage>(messages: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (current.length > 0 && (current.length >= MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface SendBatchOptions {
  /** Tries for an entry that failed on the SQS side (throttled, internal error). */
  attempts?: number;
  /** The pause before a retry (injected by tests). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Sends up to ten messages with SendMessageBatch. A batch can half succeed: the
 * entries SQS failed on its side are sent again (only those, with a growing
 * pause), and what still fails, or failed through the sender's fault (a message
 * SQS will never take), is returned, never dropped. A failure of the whole call
 * (after the SDK's own retries) is thrown.
 */
export async function sendMessageBatch(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly BatchMessage[],
  options: SendBatchOptions = {},
): Promise<BatchOutcome> {
  if (messages.length > MAX_BATCH_ENTRIES) throw new RangeError(`at most ${MAX_BATCH_ENTRIES} messages per batch`);
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? realSleep;
  const sent = new Map<number, string>();
  const failed: BatchFailure[] = [];
  let pending = messages.map((_, index) => index);
  for (let attempt = 1; pending.length > 0; attempt++) {
    const response = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: pending.map((index) => ({
          Id: String(index),
          MessageBody: messages[index]!.body,
          ...(messages[index]!.attributes ? { MessageAttributes: messages[index]!.attributes } : {}),
        })),
      }),
    );
    for (const entry of response.Successful ?? []) sent.set(Number(entry.Id), entry.MessageId ?? '');
    const retry: number[] = [];
    for (const entry of response.Failed ?? []) {
      const index = Number(entry.Id);
      const failure = { index, code: entry.Code ?? 'Failed', message: entry.Message ?? 'batch entry failed' };
      if (entry.SenderFault || attempt >= attempts) failed.push(failure);
      else retry.push(index);
    }
    // An entry SQS reported neither way is treated as failed: it must not be assumed sent.
    for (const index of pending) {
      if (!sent.has(index) && !retry.includes(index) && !failed.some((f) => f.index === index)) {
        failed.push({ index, code: 'Unreported', message: 'SQS reported this entry neither sent nor failed' });
      }
    }
    pending = retry;
    if (pending.length > 0) await sleep(Math.min(5_000, 100 * 2 ** (attempt - 1)));
  }
  failed.sort((a, b) => a.index - b.index);
  return { sent, failed };
}
